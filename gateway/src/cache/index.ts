export { cacheKey, canonicalJson, requestCacheKey, sourcePrefix, type CacheKeyParts } from "./key.ts";
export { MemoryCacheStore } from "./memory-store.ts";
export { TieredCacheStore } from "./tiered-store.ts";
export { createQueryCache, CACHE_MODES, CACHE_RESULTS, type CacheMode, type CacheOutcome, type CacheResult, type QueryCache, type QueryResultRows } from "./query-cache.ts";
export type { CacheStore } from "./store.ts";
