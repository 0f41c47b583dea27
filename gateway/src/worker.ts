import { createEdgeGateway, startFailure, stringVars, type EdgeGateway } from "./edge.ts";

/** What workerd hands a Durable Object class and the Worker: the namespace binding and text bindings. */
interface DurableObjectStub { fetch(req: Request): Promise<Response> }
interface WorkerEnv {
  GATEWAY: { idFromName(name: string): unknown; get(id: unknown): DurableObjectStub };
  [variable: string]: unknown;
}

/**
 * The gateway inside one Durable Object. A Worker may not use an I/O object (the NATS
 * WebSocket) from another request than the one that opened it; a Durable Object's
 * requests share one I/O context, so the bus connection is opened once and kept.
 */
export class Gateway {
  private gateway: Promise<EdgeGateway> | null = null;

  constructor(_state: unknown, private readonly env: WorkerEnv) {}

  async fetch(req: Request): Promise<Response> {
    this.gateway ??= createEdgeGateway(stringVars(this.env), "workerd");
    try {
      return await (await this.gateway).fetch(req);
    } catch (e) {
      // Start-up failed (a bad variable, NATS unreachable): answer 503 and try again on the next request.
      this.gateway = null;
      return startFailure(e);
    }
  }
}

/** The Worker: every request goes to the one gateway object (the app itself is stateless). */
export default {
  fetch(req: Request, env: WorkerEnv): Promise<Response> {
    return env.GATEWAY.get(env.GATEWAY.idFromName("gateway")).fetch(req);
  },
};
