import type { Bus } from "@dsb/bus";
import { natsConnectionOf, type Env, type Logger } from "@dsb/runtime";
import { KvCacheStore, cacheBucket } from "./kv-store.ts";
import { KvFlight, claimsBucket } from "./kv-flight.ts";
import { MemoryCacheStore } from "./memory-store.ts";
import { TieredCacheStore } from "./tiered-store.ts";
import { createQueryCache, type CacheResult, type QueryCache } from "./query-cache.ts";
import type { CacheStore, SharedFlight } from "./store.ts";

/**
 * The query result cache of this gateway: a JetStream KV bucket shared by every replica
 * on NATS (distributed mode), a byte-bounded LRU in memory in embedded mode. When the
 * bucket cannot be opened (no JetStream, no permission) the replica keeps its own cache
 * in memory and says so: answers stay right, replicas just share less.
 */
export async function openQueryCache(env: Env, bus: Bus, log: Logger, onResult?: (r: CacheResult) => void): Promise<QueryCache> {
  const nc = natsConnectionOf(bus);
  let store: CacheStore = new MemoryCacheStore(env.QUERY_CACHE_BYTES);
  let flight: SharedFlight | undefined;
  if (nc) {
    const bucket = cacheBucket(env.BUS_NAMESPACE);
    try {
      // A local copy of hot entries (an eighth of the budget) saves the NATS round trip on repeated hits.
      store = new TieredCacheStore(await KvCacheStore.open(nc, { bucket, maxBytes: env.QUERY_CACHE_BYTES }), Math.max(1024, Math.floor(env.QUERY_CACHE_BYTES / 8)));
    } catch (e) {
      log.warn({ bucket, err: (e as Error).message }, "⚠️ query cache: JetStream KV bucket unavailable, caching in this process only (check JetStream and the gateway's NATS permissions)");
    }
    if (store instanceof TieredCacheStore) {
      try {
        flight = await KvFlight.open(nc, { valueBucket: bucket, log });
      } catch (e) {
        log.warn({ bucket: claimsBucket(bucket), err: (e as Error).message }, "⚠️ query cache: claims bucket unavailable, identical queries on different replicas may each run");
      }
    }
  }
  return createQueryCache({ store, maxEntryBytes: env.QUERY_CACHE_MAX_BYTES, onResult, log, flight });
}
