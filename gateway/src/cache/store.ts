/**
 * Where cached results live: bytes by key, each with its own expiry. Embedded mode:
 * a byte-bounded LRU in memory (memory-store.ts); distributed: a JetStream KV bucket
 * shared by the gateway replicas (kv-store.ts).
 */
export interface CacheStore {
  get(key: string): Promise<Uint8Array | null>;
  /**
   * `get` without waiting, where the store can answer from memory: the value, null when there
   * is none, undefined when only `get` can tell (the shared tier must be asked).
   */
  peek?(key: string): Uint8Array | null | undefined;
  /** Stores `value` until `expiresAt` (epoch ms); a value the store cannot hold is silently skipped. */
  set(key: string, value: Uint8Array, expiresAt: number): Promise<void>;
  /** Drops every key starting with `prefix.` (one source's entries). */
  dropPrefix(prefix: string): Promise<void>;
  /** Entries and bytes held (memory store: exact; KV: the bucket's). */
  size(): Promise<{ entries: number; bytes: number }>;
  close?(): Promise<void>;
}

/** This replica's claim on running a key's query (kv-flight.ts): `release` once its entry is written, or not. */
export interface Claim {
  release(stored: boolean): void;
}

/**
 * Single flight across gateway replicas (distributed mode). `acquire` answers a `Claim`
 * (run the query here), "stored" (the replica that ran it has stored its entry: read it,
 * and run the query if it is not there) or null (run it here, unclaimed).
 */
export interface SharedFlight {
  acquire(key: string): Promise<Claim | "stored" | null>;
}
