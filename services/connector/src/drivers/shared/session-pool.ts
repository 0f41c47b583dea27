/** What the pool needs of a physical connection. */
export interface Poolable {
  readonly healthy: boolean;
  close(): Promise<void>;
}

/** DESIGN.md's pool shape: 5 kept idle, 10 more on demand, pre-ping, recycle after an hour, idle close. */
export interface PoolOptions {
  max: number;
  maxIdle: number;
  maxLifetimeMs: number;
  idleTimeoutMs: number;
  /** Ping a connection before reuse when it sat idle longer than this. */
  pingAfterIdleMs: number;
}
export const DEFAULT_POOL: PoolOptions = { max: 15, maxIdle: 5, maxLifetimeMs: 3_600_000, idleTimeoutMs: 300_000, pingAfterIdleMs: 30_000 };

interface Entry<C> { client: C; createdAt: number; lastUsed: number }

/** A small pool of connections for one source (used by the SQL Server and Snowflake drivers). */
export class SessionPool<C extends Poolable = Poolable> {
  private idle: Entry<C>[] = [];
  private busy = new Set<Entry<C>>();
  private waiters: { resolve: (e: Entry<C>) => void; reject: (err: unknown) => void }[] = [];
  private opening = 0;
  private closed = false;
  private sweeper: NodeJS.Timeout;

  constructor(
    private readonly open: () => Promise<C>,
    private readonly ping: (c: C) => Promise<void>,
    private readonly opts: PoolOptions = DEFAULT_POOL,
  ) {
    this.sweeper = setInterval(() => this.sweep(), Math.min(opts.idleTimeoutMs, 60_000));
    this.sweeper.unref();
  }

  get size() { return this.idle.length + this.busy.size + this.opening; }
  get busyCount() { return this.busy.size; }

  /** A healthy client, opening one if under `max`, else waiting for a release. */
  async acquire(): Promise<{ client: C; release: (reusable: boolean) => void }> {
    if (this.closed) throw new Error("pool is closed");
    const entry = await this.take();
    let released = false;
    return {
      client: entry.client,
      release: (reusable) => {
        if (released) return;
        released = true;
        this.giveBack(entry, reusable);
      },
    };
  }

  private async take(): Promise<Entry<C>> {
    const now = Date.now();
    while (this.idle.length) {
      const e = this.idle.pop()!;
      if (!e.client.healthy || now - e.createdAt > this.opts.maxLifetimeMs) { void e.client.close(); continue; }
      if (now - e.lastUsed > this.opts.pingAfterIdleMs) {
        try { await this.ping(e.client); } catch { void e.client.close(); continue; }
      }
      this.busy.add(e);
      return e;
    }
    if (this.size < this.opts.max) {
      this.opening++;
      try {
        const client = await this.open();
        const e = { client, createdAt: Date.now(), lastUsed: Date.now() };
        if (this.closed) { void client.close(); throw new Error("pool is closed"); }
        this.busy.add(e);
        return e;
      } finally {
        this.opening--;
      }
    }
    return new Promise<Entry<C>>((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private giveBack(e: Entry<C>, reusable: boolean) {
    this.busy.delete(e);
    e.lastUsed = Date.now();
    const ok = reusable && !this.closed && e.client.healthy && Date.now() - e.createdAt <= this.opts.maxLifetimeMs;
    const waiter = this.waiters.shift();
    if (waiter) {
      if (ok) { this.busy.add(e); waiter.resolve(e); return; }
      void e.client.close();
      this.take().then(waiter.resolve, waiter.reject);
      return;
    }
    if (ok && this.idle.length < this.opts.maxIdle) this.idle.push(e);
    else void e.client.close();
  }

  private sweep() {
    const now = Date.now();
    this.idle = this.idle.filter((e) => {
      const keep = e.client.healthy && now - e.lastUsed <= this.opts.idleTimeoutMs && now - e.createdAt <= this.opts.maxLifetimeMs;
      if (!keep) void e.client.close();
      return keep;
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweeper);
    for (const w of this.waiters.splice(0)) w.reject(new Error("pool is closed"));
    const all = [...this.idle, ...this.busy];
    this.idle = [];
    this.busy.clear();
    await Promise.all(all.map((e) => e.client.close().catch(() => undefined)));
  }
}
