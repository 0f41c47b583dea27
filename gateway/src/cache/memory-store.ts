import type { CacheStore } from "./store.ts";

/** Bytes an entry costs beyond its value: the key, the Map slot and the record (an estimate). */
const ENTRY_OVERHEAD = 160;

/**
 * Embedded mode's cache: least recently used entries go first once the values,
 * keys and per-entry overhead pass `maxBytes`. A Map iterates in insertion order,
 * so re-inserting on a hit keeps the oldest use first.
 */
export class MemoryCacheStore implements CacheStore {
  private readonly entries = new Map<string, { value: Uint8Array; expiresAt: number; cost: number }>();
  private bytes = 0;
  constructor(private readonly maxBytes: number) {}

  async get(key: string): Promise<Uint8Array | null> {
    return this.peek(key);
  }

  peek(key: string): Uint8Array | null {
    const e = this.entries.get(key);
    if (!e) return null;
    this.entries.delete(key);
    if (e.expiresAt <= Date.now()) {
      this.bytes -= e.cost;
      return null;
    }
    this.entries.set(key, e);
    return e.value;
  }

  async set(key: string, value: Uint8Array, expiresAt: number): Promise<void> {
    this.remove(key);
    const cost = value.byteLength + key.length * 2 + ENTRY_OVERHEAD;
    if (cost > this.maxBytes) return;
    while (this.bytes + cost > this.maxBytes) this.remove(this.entries.keys().next().value!);
    this.entries.set(key, { value, expiresAt, cost });
    this.bytes += cost;
  }

  async dropPrefix(prefix: string): Promise<void> {
    const start = `${prefix}.`;
    for (const k of [...this.entries.keys()]) if (k.startsWith(start)) this.remove(k);
  }

  async size(): Promise<{ entries: number; bytes: number }> {
    return { entries: this.entries.size, bytes: this.bytes };
  }

  private remove(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.bytes -= e.cost;
  }
}
