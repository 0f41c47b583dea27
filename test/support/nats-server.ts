import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const NATS_SERVER_BIN = process.env.NATS_SERVER_BIN ?? "/usr/sbin/nats-server";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

async function waitForPort(port: number, up: boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((r) => {
      const sock = connect(port, "127.0.0.1");
      sock.once("connect", () => { sock.destroy(); r(true); });
      sock.once("error", () => r(false));
    });
    if (open === up) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nats-server port ${port} did not become ${up ? "ready" : "free"}`);
}

/** A private nats-server (JetStream on) the test can stop and start again on the same port. */
export class TestNatsServer {
  private proc: ChildProcess | null = null;
  private readonly dir = mkdtempSync(join(tmpdir(), "dsb-nats-"));
  constructor(readonly port: number, private readonly extraArgs: string[] = [], readonly wsPort?: number) {}

  static async start(extraArgs: string[] = []): Promise<TestNatsServer> {
    const s = new TestNatsServer(await freePort(), extraArgs);
    await s.start();
    return s;
  }

  /** Also serves NATS over WebSocket (plain ws, loopback only) on its own port, as deploy/nats.conf does for edge gateways. */
  static async startWithWebSocket(): Promise<TestNatsServer> {
    const s = new TestNatsServer(await freePort(), [], await freePort());
    await s.start();
    return s;
  }

  /** The server process's id (undefined when stopped). */
  get pid(): number | undefined {
    return this.proc?.pid ?? undefined;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get wsUrl(): string {
    if (!this.wsPort) throw new Error("this nats-server has no WebSocket listener: start it with startWithWebSocket()");
    return `ws://127.0.0.1:${this.wsPort}`;
  }

  async start(): Promise<void> {
    const args = ["-a", "127.0.0.1", "-p", String(this.port), "-js", "-sd", this.dir, ...this.extraArgs];
    if (this.wsPort) {
      // WebSocket takes a config file (there is no command-line flag for it).
      const conf = join(this.dir, "ws.conf");
      writeFileSync(conf, `websocket { listen: "127.0.0.1:${this.wsPort}", no_tls: true }\n`);
      args.push("-c", conf);
    }
    this.proc = spawn(NATS_SERVER_BIN, args, { stdio: "ignore" });
    await waitForPort(this.port, true);
    if (this.wsPort) await waitForPort(this.wsPort, true);
  }

  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once("exit", r));
    p.kill("SIGKILL");
    await exited;
    await waitForPort(this.port, false);
  }

  /** SIGSTOP: the server stalls with its connections open (what a frozen host looks like to clients). */
  pause(): void {
    this.proc?.kill("SIGSTOP");
  }

  /** SIGCONT after `pause`. */
  resume(): void {
    this.proc?.kill("SIGCONT");
  }

  async dispose(): Promise<void> {
    this.resume();
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
