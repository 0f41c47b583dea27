import { createServer, connect, type Server, type Socket } from "node:net";

/** What the proxy does to traffic: pass it, delay it, hold it, or cut connections with a TCP RST. */
export type FaultMode =
  | { kind: "pass" }
  | { kind: "latency"; ms: number }
  | { kind: "stall" }
  | { kind: "reset" };

/**
 * A TCP proxy in front of a real server for fault tests (Debian has no toxiproxy):
 * - `latency(ms)`: every chunk, both ways, arrives `ms` later (order kept);
 * - `stall()`: open connections stop moving bytes (held, not lost) and new ones are accepted
 *   and never answered — a database host that hangs mid-query;
 * - `reset()`: every open connection is cut with a TCP RST and new ones are reset on accept —
 *   a host that crashed or a middlebox that dropped the flows;
 * - `heal()`: back to passing traffic (held bytes of stalled connections flow again).
 * `connections` counts accepted client connections (a pool's reconnects show there).
 */
export class FaultProxy {
  protected mode: FaultMode = { kind: "pass" };
  private readonly pairs = new Set<{ client: Socket; upstream: Socket | null; held: (() => void)[] }>();
  private readonly server: Server;
  port = 0;
  connections = 0;

  constructor(private readonly target: { host: string; port: number }) {
    this.server = createServer((client) => this.accept(client));
  }

  static async start<T extends FaultProxy>(this: new (target: { host: string; port: number }) => T, target: { host: string; port: number }): Promise<T> {
    const p = new this(target);
    await new Promise<void>((r) => p.server.listen(0, "127.0.0.1", r));
    p.port = (p.server.address() as { port: number }).port;
    return p;
  }

  private accept(client: Socket): void {
    this.connections++;
    client.on("error", () => client.destroy());
    if (this.mode.kind === "reset") return void client.resetAndDestroy();
    const pair = { client, upstream: null as Socket | null, held: [] as (() => void)[] };
    this.pairs.add(pair);
    client.on("close", () => { pair.upstream?.destroy(); this.pairs.delete(pair); });
    if (this.mode.kind === "stall") {
      // Accepted, never answered; a heal() dials the server then, as a late SYN-ACK would.
      pair.held.push(() => this.dial(pair));
      return;
    }
    this.dial(pair);
  }

  private dial(pair: { client: Socket; upstream: Socket | null; held: (() => void)[] }): void {
    if (pair.client.destroyed) return;
    const upstream = connect(this.target.port, this.target.host);
    pair.upstream = upstream;
    upstream.on("error", () => upstream.destroy());
    upstream.on("close", () => pair.client.destroy());
    this.forward(pair, pair.client, upstream);
    this.forward(pair, upstream, pair.client);
  }

  private forward(pair: { held: (() => void)[] }, from: Socket, to: Socket): void {
    from.on("data", (chunk: Buffer) => {
      const write = () => { if (!to.destroyed) to.write(chunk); };
      const m = this.mode;
      if (m.kind === "stall" || pair.held.length) pair.held.push(write); // keep order behind held bytes
      else if (m.kind === "latency") setTimeout(write, m.ms);
      else write();
    });
  }

  latency(ms: number): void {
    this.mode = { kind: "latency", ms };
  }

  stall(): void {
    this.mode = { kind: "stall" };
  }

  /** Cuts every open connection with RST, and resets new ones until `heal()`. */
  reset(): void {
    this.mode = { kind: "reset" };
    for (const p of this.pairs) {
      p.client.resetAndDestroy();
      p.upstream?.resetAndDestroy();
    }
    this.pairs.clear();
  }

  /** Cuts every open connection (RST) but keeps accepting new ones: a blip, not an outage. */
  resetOpen(): void {
    const before = this.mode;
    this.reset();
    this.mode = before.kind === "reset" ? { kind: "pass" } : before;
  }

  heal(): void {
    this.mode = { kind: "pass" };
    for (const p of this.pairs) for (const run of p.held.splice(0)) run();
  }

  /** Open client connections. */
  get open(): number {
    return this.pairs.size;
  }

  async close(): Promise<void> {
    for (const p of this.pairs) { p.client.destroy(); p.upstream?.destroy(); }
    await new Promise((r) => this.server.close(r));
  }
}
