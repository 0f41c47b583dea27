import { FaultProxy } from "./fault-proxy.ts";

/**
 * A FaultProxy whose `stall()` also cuts the open connections, so a client's next connect
 * meets the hang (a database host that stops answering, for health checks).
 */
export class StallProxy extends FaultProxy {
  override stall(): void {
    this.resetOpen();
    super.stall();
  }

  resume(): void {
    this.heal();
  }
}
