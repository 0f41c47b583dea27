import { createServer, connect, type Server, type Socket } from "node:net";

/**
 * A TCP proxy in front of a real server that can be told to stall: new
 * connections are then accepted and never answered (a database host that hangs),
 * and the open ones are cut.
 */
export class StallProxy {
  private stalled = false;
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;
  port = 0;

  private constructor(private readonly target: { host: string; port: number }) {
    this.server = createServer((client) => this.accept(client));
  }

  static async start(target: { host: string; port: number }): Promise<StallProxy> {
    const p = new StallProxy(target);
    await new Promise<void>((r) => p.server.listen(0, "127.0.0.1", r));
    p.port = (p.server.address() as { port: number }).port;
    return p;
  }

  private keep(s: Socket): void {
    this.sockets.add(s);
    s.on("close", () => this.sockets.delete(s));
    s.on("error", () => s.destroy());
  }

  private accept(client: Socket): void {
    this.keep(client);
    if (this.stalled) return; // accepted, never answered
    const upstream = connect(this.target.port, this.target.host);
    this.keep(upstream);
    upstream.on("close", () => client.destroy());
    client.on("close", () => upstream.destroy());
    client.pipe(upstream).pipe(client);
  }

  /** Stalls new connections and cuts the open ones. */
  stall(): void {
    this.stalled = true;
    for (const s of this.sockets) s.destroy();
  }

  resume(): void {
    this.stalled = false;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }
}
