import { MemoryCacheStore } from "./memory-store.ts";
import type { CacheStore } from "./store.ts";

/** How long a replica answers from its own copy of a shared entry without asking the bucket again. */
export const LOCAL_COPY_MS = 1_000;

/**
 * A shared store (the KV bucket) with a small copy in this replica's memory in front:
 * a repeated hit is answered without a NATS round trip. A local copy lives at most
 * LOCAL_COPY_MS (and never past the entry's own expiry when this replica wrote it), so
 * another replica's `refresh` shows here within a second; drops (source changed or
 * deleted) reach every replica's events and clear both tiers at once.
 */
export class TieredCacheStore implements CacheStore {
  private readonly local: MemoryCacheStore;
  constructor(private readonly shared: CacheStore, localBytes: number, private readonly localMs = LOCAL_COPY_MS) {
    this.local = new MemoryCacheStore(localBytes);
  }

  async get(key: string): Promise<Uint8Array | null> {
    const near = await this.local.get(key);
    if (near) return near;
    const far = await this.shared.get(key);
    if (far) await this.local.set(key, far, Date.now() + this.localMs);
    return far;
  }

  /** The local copy's value; undefined (ask `get`) when there is none, since the bucket may hold one. */
  peek(key: string): Uint8Array | undefined {
    return this.local.peek(key) ?? undefined;
  }

  async set(key: string, value: Uint8Array, expiresAt: number): Promise<void> {
    await this.shared.set(key, value, expiresAt);
    await this.local.set(key, value, Math.min(expiresAt, Date.now() + this.localMs));
  }

  async dropPrefix(prefix: string): Promise<void> {
    await this.local.dropPrefix(prefix);
    await this.shared.dropPrefix(prefix);
  }

  size(): Promise<{ entries: number; bytes: number }> {
    return this.shared.size();
  }
}
