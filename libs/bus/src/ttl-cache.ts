/**
 * A small map whose entries expire, bounded in size (oldest insert evicted).
 * For hot-path lookups that events invalidate; the TTL bounds staleness if an
 * event is missed.
 */
export class TtlCache<V> {
  private readonly entries = new Map<string, { value: V; expires: number }>();
  constructor(private readonly ttlMs: number, private readonly maxEntries = 10_000) {}

  get(key: string): V | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.expires <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return e.value;
  }

  set(key: string, value: V): void {
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { value, expires: Date.now() + this.ttlMs });
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  /** Removes every entry whose key satisfies the predicate. */
  deleteWhere(pred: (key: string) => boolean): void {
    for (const k of [...this.entries.keys()]) if (pred(k)) this.entries.delete(k);
  }

  /** Cached value, or the loader's (not cached when it throws). Concurrent misses share one load. */
  async getOrLoad(key: string, load: () => Promise<V>): Promise<V> {
    const hit = this.get(key);
    if (hit !== undefined) return hit;
    let p = this.inflight.get(key);
    if (!p) {
      p = load().finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    const v = await p;
    this.set(key, v);
    return v;
  }
  private readonly inflight = new Map<string, Promise<V>>();
}
