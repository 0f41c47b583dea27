import type { Connection } from "./drivers/types.ts";

/** Log sink for pool events (pino-compatible subset). */
export interface PoolLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

interface Entry {
  key: string;
  sourceId: string;
  version: string;
  conn: Promise<Connection>;
  leases: number;
  lastUsed: number;
  /** Recency order for eviction (clock milliseconds tie too often). */
  seq: number;
  /** Superseded (new config version, source deleted, evicted): closed when its last lease ends. */
  retired: boolean;
  /** Database type, for the pool gauges (never the source id). */
  dbType: string;
  /** The connection once open. */
  opened?: Connection;
}

/** A connection borrowed from the registry; `release()` once when done with it. */
export interface Lease {
  conn: Connection;
  release(): void;
}

export interface PoolRegistryOptions {
  /** Most pools open at once (MAX_POOLS); the least recently used idle one is closed beyond it. */
  maxPools: number;
  /** A pool nobody used for this long is closed (default 10 minutes). */
  idleMs?: number;
  /** How often idle pools are looked for (default 1 minute). */
  sweepMs?: number;
  log?: PoolLog;
}

/**
 * The connector's pools: one per source id + config version, so an edited
 * config gets a fresh pool and the old one drains. Bounded in number, closed
 * when idle, on delete events and on stop.
 */
export class PoolRegistry {
  private readonly entries = new Map<string, Entry>();
  private readonly sweeper: NodeJS.Timeout;
  private stopped = false;
  private seq = 0;

  constructor(private readonly opts: PoolRegistryOptions) {
    this.sweeper = setInterval(() => void this.sweep(), opts.sweepMs ?? 60_000);
    this.sweeper.unref();
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * Connections by database type: active and idle ones, and requests waiting for one, from
   * drivers whose pool reports them (`poolStats`); otherwise a pool in use counts its leases as active.
   */
  connectionStats(): Map<string, { active: number; idle: number; waiting: number }> {
    const out = new Map<string, { active: number; idle: number; waiting: number }>();
    for (const e of this.entries.values()) {
      const s = out.get(e.dbType) ?? { active: 0, idle: 0, waiting: 0 };
      const p = e.opened?.poolStats?.();
      if (p) {
        s.active += p.total - p.idle;
        s.idle += p.idle;
        s.waiting += p.waiting;
      } else s.active += e.leases;
      out.set(e.dbType, s);
    }
    return out;
  }

  /** Pool keys currently open, for tests and diagnostics. */
  keys(): string[] {
    return [...this.entries.keys()];
  }

  /** Borrows the pool of (sourceId, version), opening it with `open` the first time. */
  async lease(sourceId: string, version: string, open: () => Promise<Connection>, dbType = "unknown"): Promise<Lease> {
    if (this.stopped) throw new Error("Pool registry is stopped");
    const key = `${sourceId}@${version}`;
    let e = this.entries.get(key);
    let created = false;
    if (!e) {
      created = true;
      for (const other of this.entries.values()) if (other.sourceId === sourceId) this.retire(other);
      const entry: Entry = { key, sourceId, version, conn: open(), leases: 0, lastUsed: Date.now(), seq: ++this.seq, retired: false, dbType };
      e = entry;
      this.entries.set(key, entry);
      entry.conn.then((c) => { entry.opened = c; }, () => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      });
    }
    e.leases++;
    e.lastUsed = Date.now();
    e.seq = ++this.seq;
    if (created) this.evict();
    let conn: Connection;
    try {
      conn = await e.conn;
    } catch (err) {
      e.leases--;
      throw err;
    }
    const entry = e;
    let released = false;
    return {
      conn,
      release: () => {
        if (released) return;
        released = true;
        entry.leases--;
        entry.lastUsed = Date.now();
        entry.seq = ++this.seq;
        if (entry.retired && entry.leases === 0) void this.closeEntry(entry);
      },
    };
  }

  /** Closes every pool of a source (delete events), or all but the one of `keepVersion` (change events); running leases finish first. */
  async closeSource(sourceId: string, keepVersion?: string): Promise<void> {
    await Promise.all([...this.entries.values()].filter((e) => e.sourceId === sourceId && e.version !== keepVersion).map((e) => this.retire(e)));
  }

  async closeAll(): Promise<void> {
    this.stopped = true;
    clearInterval(this.sweeper);
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.allSettled(all.map((e) => e.conn.then((c) => c.close())));
  }

  /** Closes idle pools; exposed so tests need not wait for the timer. */
  async sweep(now = Date.now()): Promise<void> {
    const idleMs = this.opts.idleMs ?? 10 * 60_000;
    const idle = [...this.entries.values()].filter((e) => e.leases === 0 && now - e.lastUsed > idleMs);
    for (const e of idle) this.opts.log?.info({ source_id: e.sourceId }, "🔌 closing idle pool");
    await Promise.all(idle.map((e) => this.retire(e)));
  }

  private retire(e: Entry): Promise<void> {
    e.retired = true;
    if (this.entries.get(e.key) === e) this.entries.delete(e.key);
    return e.leases === 0 ? this.closeEntry(e) : Promise.resolve();
  }

  private async closeEntry(e: Entry): Promise<void> {
    try {
      await (await e.conn).close();
    } catch {
      // A pool that failed to open has nothing to close.
    }
  }

  /** Keeps at most maxPools: least recently used idle pools go first. */
  private evict(): void {
    const over = this.entries.size - this.opts.maxPools;
    if (over <= 0) return;
    const idle = [...this.entries.values()].filter((e) => e.leases === 0).sort((a, b) => a.seq - b.seq);
    for (const e of idle.slice(0, over)) void this.retire(e);
    if (idle.length < over) this.opts.log?.warn({ open: this.entries.size, max: this.opts.maxPools }, "⚠️ more pools in use than MAX_POOLS");
  }
}
