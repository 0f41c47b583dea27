import { poolBusyError, POOL_WAIT_MS, type PoolWait } from "./pool-wait.ts";

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

/** A checkout waiting for a release: `serve` hands it a busy entry (given straight back once it left), `fail` rejects it. */
interface Waiter<C> { serve(e: Entry<C>): void; fail(err: unknown): void }

/** A small pool of connections for one source (used by the SQL Server and Snowflake drivers). */
export class SessionPool<C extends Poolable = Poolable> {
  private idle: Entry<C>[] = [];
  private busy = new Set<Entry<C>>();
  private waiters: Waiter<C>[] = [];
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
  get waitingCount() { return this.waiters.length; }

  /**
   * A healthy client, opening one if under `max`, else waiting for a release: until `wait.signal`
   * fires (the waiter leaves the queue, `wait.aborted()` is thrown), or without a signal for
   * `wait.boundMs` (POOL_WAIT_MS; then `wait.busy()`).
   */
  async acquire(wait: PoolWait = { busy: () => poolBusyError(this.opts.max, POOL_WAIT_MS) }): Promise<{ client: C; release: (reusable: boolean) => void }> {
    if (this.closed) throw new Error("pool is closed");
    const entry = await this.take(wait);
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

  private async take(wait: PoolWait | null): Promise<Entry<C>> {
    const now = Date.now();
    while (this.idle.length) {
      const e = this.idle.pop()!;
      if (!e.client.healthy || now - e.createdAt > this.opts.maxLifetimeMs) { void e.client.close(); continue; }
      // Counted as busy during its ping: `size` must not let another open past `max` meanwhile.
      this.busy.add(e);
      if (now - e.lastUsed > this.opts.pingAfterIdleMs) {
        try { await this.ping(e.client); } catch { this.busy.delete(e); void e.client.close(); continue; }
      }
      return e;
    }
    if (this.size < this.opts.max) {
      this.opening++;
      let client: C;
      try {
        client = await this.open();
      } catch (err) {
        this.opening--;
        this.refill();
        throw err;
      }
      this.opening--;
      if (this.closed) { void client.close(); throw new Error("pool is closed"); }
      const e = { client, createdAt: Date.now(), lastUsed: Date.now() };
      this.busy.add(e);
      return e;
    }
    return this.queue(wait);
  }

  /** A failed open left room under `max`: the next waiter opens in its place rather than wait for a release that may never come. */
  private refill() {
    if (this.closed || this.size >= this.opts.max) return;
    const waiter = this.waiters.shift();
    if (waiter) this.take(null).then(waiter.serve, waiter.fail);
  }

  /** Waits for a release (see `acquire`); `wait` null: no bound (a waiter already served once, see `giveBack`). */
  private queue(wait: PoolWait | null): Promise<Entry<C>> {
    return new Promise<Entry<C>>((resolve, reject) => {
      let done = false;
      const signal = wait?.signal;
      const leave = (err: unknown) => {
        if (done) return;
        done = true;
        cleanup();
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(err);
      };
      const onAbort = () => leave(wait?.aborted?.() ?? signal?.reason);
      const timer = wait && !signal ? setTimeout(() => leave(wait.busy()), wait.boundMs ?? POOL_WAIT_MS) : null;
      timer?.unref();
      const cleanup = () => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      const waiter: Waiter<C> = {
        serve: (e) => {
          if (done) return this.giveBack(e, true);
          done = true;
          cleanup();
          resolve(e);
        },
        fail: (err) => {
          if (done) return;
          done = true;
          cleanup();
          reject(err);
        },
      };
      this.waiters.push(waiter);
      if (signal?.aborted) onAbort();
      else signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  private giveBack(e: Entry<C>, reusable: boolean) {
    this.busy.delete(e);
    e.lastUsed = Date.now();
    const ok = reusable && !this.closed && e.client.healthy && Date.now() - e.createdAt <= this.opts.maxLifetimeMs;
    const waiter = this.waiters.shift();
    if (waiter) {
      if (ok) { this.busy.add(e); waiter.serve(e); return; }
      void e.client.close();
      this.take(null).then(waiter.serve, waiter.fail);
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
    for (const w of this.waiters.splice(0)) w.fail(new Error("pool is closed"));
    const all = [...this.idle, ...this.busy];
    this.idle = [];
    this.busy.clear();
    await Promise.all(all.map((e) => e.client.close().catch(() => undefined)));
  }
}
