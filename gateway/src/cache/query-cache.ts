import type { ColumnMeta } from "@dsb/contracts";
import { sourcePrefix } from "./key.ts";
import type { CacheStore, SharedFlight } from "./store.ts";

/** The request's `cache`: read and write (`use`), neither (`bypass`), or run and write (`refresh`). */
export const CACHE_MODES = ["use", "bypass", "refresh"] as const;
export type CacheMode = (typeof CACHE_MODES)[number];

/** How a request met the cache, for ds_cache_requests_total{result}. */
export const CACHE_RESULTS = ["hit", "miss", "shared", "bypass", "refresh", "error"] as const;
export type CacheResult = (typeof CACHE_RESULTS)[number];

/** A JSON query result as the route answers it. */
export interface QueryResultRows {
  columns: ColumnMeta[];
  rows: unknown[][];
  truncated: boolean;
  execution_time_ms: number;
}

/** What `run` answers: the rows, and when they were cached (null when this request ran the query). */
export interface CacheOutcome {
  result: QueryResultRows;
  cachedAt: string | null;
  /** true when the rows came from another request: a cache entry or an identical query running at the same time. */
  fromOthers: boolean;
}

export interface QueryCacheOptions {
  store: CacheStore;
  /** Results larger than this (bytes of JSON) are never cached (QUERY_CACHE_MAX_BYTES). */
  maxEntryBytes: number;
  onResult?: (r: CacheResult) => void;
  log?: { warn(o: object, m: string): void };
  /** Distributed mode: identical misses on other replicas run once too (kv-flight.ts). */
  flight?: SharedFlight;
}

/**
 * The gateway's query result cache: entries by key (key.ts), stored as JSON bytes.
 * Identical queries that miss together run once in this gateway (the others wait for
 * the first and answer its rows), and with a `flight` once among the replicas (the first
 * replica's leader runs, the others' leaders wait for its entry). Only what `run`
 * returns is stored: a failure throws and leaves nothing behind.
 */
export function createQueryCache(opts: QueryCacheOptions) {
  const { store, maxEntryBytes } = opts;
  /** A run's rows; `cachedAt` when they came from another replica's entry. */
  type Shared = { result: QueryResultRows; cachedAt: string | null };
  const inFlight = new Map<string, Promise<Shared>>();
  const count = (r: CacheResult) => opts.onResult?.(r);

  /** Stores a result; false when it is not (too large, or the store failed). */
  const write = async (key: string, result: QueryResultRows, ttlSeconds: number): Promise<boolean> => {
    const bytes = new TextEncoder().encode(JSON.stringify({ ...result, cached_at: new Date().toISOString() }));
    if (bytes.byteLength > maxEntryBytes) return false;
    try {
      await store.set(key, bytes, Date.now() + ttlSeconds * 1000);
      return true;
    } catch (e) {
      opts.log?.warn({ err: (e as Error).message }, "⚠️ query cache write failed (answered uncached)");
      return false;
    }
  };

  /**
   * Entries already parsed, by the stored bytes: the memory store (and the distributed store's
   * local copy) answers a repeated hit with the same bytes, so a hot entry is parsed once rather
   * than per request. Answers share the parsed rows, which nothing writes to.
   */
  const parsed = new WeakMap<Uint8Array, { result: QueryResultRows; cachedAt: string }>();

  type Entry = { result: QueryResultRows; cachedAt: string };
  const entryOf = (bytes: Uint8Array): Entry => {
    const known = parsed.get(bytes);
    if (known) return known;
    const { cached_at, ...result } = JSON.parse(new TextDecoder().decode(bytes)) as QueryResultRows & { cached_at: string };
    const entry = { result, cachedAt: cached_at };
    parsed.set(bytes, entry);
    return entry;
  };
  const readFailed = (e: unknown): null => {
    count("error");
    opts.log?.warn({ err: (e as Error).message }, "⚠️ query cache read failed (running the query)");
    return null;
  };

  const read = async (key: string): Promise<Entry | null> => {
    try {
      const bytes = await store.get(key);
      return bytes ? entryOf(bytes) : null;
    } catch (e) {
      return readFailed(e);
    }
  };

  /** `read` without waiting where the store can answer from memory (a hot entry); undefined when `read` must ask. */
  const readNow = (key: string): Entry | null | undefined => {
    try {
      const bytes = store.peek?.(key);
      return bytes ? entryOf(bytes) : bytes;
    } catch (e) {
      return readFailed(e);
    }
  };

  /**
   * Runs `run` once for every caller of `key` arriving while it runs; stores its result.
   * With a flight, another replica may be running it: then its stored entry is the answer
   * (`cachedAt` set), and `run` runs here only when that replica stored none.
   */
  const single = (key: string, ttlSeconds: number, run: () => Promise<QueryResultRows>): { promise: Promise<Shared>; leader: boolean } => {
    const running = inFlight.get(key);
    if (running) return { promise: running, leader: false };
    const promise = (async (): Promise<Shared> => {
      try {
        const claim = opts.flight ? await opts.flight.acquire(key) : null;
        if (claim === "stored") {
          const theirs = await read(key);
          if (theirs) return theirs;
        }
        const ours = claim === "stored" ? null : claim;
        let stored = false;
        try {
          const result = await run();
          stored = await write(key, result, ttlSeconds);
          return { result, cachedAt: null };
        } finally {
          ours?.release(stored);
        }
      } finally {
        inFlight.delete(key);
      }
    })();
    inFlight.set(key, promise);
    return { promise, leader: true };
  };

  return {
    /**
     * Answers from the cache or by running `run`. With `ttlSeconds` 0 or mode `bypass`,
     * it is just `run`. Followers share the leader's failure, except a cancel (the
     * leader's client went away): then they run on their own.
     */
    async run(key: string, mode: CacheMode, ttlSeconds: number, run: () => Promise<QueryResultRows>): Promise<CacheOutcome> {
      if (ttlSeconds <= 0 || mode === "bypass") {
        if (ttlSeconds > 0) count("bypass");
        return { result: await run(), cachedAt: null, fromOthers: false };
      }
      if (mode === "refresh") {
        count("refresh");
        const result = await run();
        await write(key, result, ttlSeconds);
        return { result, cachedAt: null, fromOthers: false };
      }
      const now = readNow(key);
      const hit = now === undefined ? await read(key) : now;
      if (hit) {
        count("hit");
        return { result: hit.result, cachedAt: hit.cachedAt, fromOthers: true };
      }
      const { promise, leader } = single(key, ttlSeconds, run);
      if (leader) {
        let shared: Shared;
        try {
          shared = await promise;
        } catch (e) {
          count("miss");
          throw e;
        }
        const { result, cachedAt } = shared;
        count(cachedAt ? "shared" : "miss");
        return { result, cachedAt, fromOthers: cachedAt !== null };
      }
      try {
        const { result, cachedAt } = await promise;
        count("shared");
        return { result, cachedAt: cachedAt ?? new Date().toISOString(), fromOthers: true };
      } catch (e) {
        // The leader's own cancel or disconnect is not this request's answer: run it here.
        if ((e as { code?: string }).code !== "CANCELLED") throw e;
        count("miss");
        return { result: await run(), cachedAt: null, fromOthers: false };
      }
    },

    /** Forgets every entry of one source (changed or deleted). */
    dropSource: (tenant: string, sourceId: string): Promise<void> => store.dropPrefix(sourcePrefix(tenant, sourceId)),
    size: () => store.size(),
  };
}
export type QueryCache = ReturnType<typeof createQueryCache>;
