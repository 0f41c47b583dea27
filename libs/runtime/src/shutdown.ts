import type { Logger } from "pino";

type Closer = { name: string; close: () => Promise<unknown> };

/** Runs closers in reverse order of registration on SIGTERM/SIGINT, once, within a grace period. */
export class Shutdown {
  private readonly closers: Closer[] = [];
  private running: Promise<void> | null = null;
  constructor(private readonly log: Logger, private readonly graceMs = 20_000) {}

  add(name: string, close: () => Promise<unknown>): void {
    this.closers.push({ name, close });
  }

  listen(): void {
    const on = (sig: string) => {
      this.log.info({ signal: sig }, "🔌 shutting down");
      void this.run().then(() => process.exit(0));
    };
    process.once("SIGTERM", () => on("SIGTERM"));
    process.once("SIGINT", () => on("SIGINT"));
  }

  run(): Promise<void> {
    this.running ??= (async () => {
      const timer = setTimeout(() => { this.log.error("❌ shutdown grace period exceeded"); process.exit(1); }, this.graceMs);
      timer.unref();
      for (const c of [...this.closers].reverse()) {
        try { await c.close(); } catch (err) { this.log.warn({ err, part: c.name }, "⚠️ close failed"); }
      }
      clearTimeout(timer);
    })();
    return this.running;
  }
}
