import { TtlCache, type Bus } from "@dsb/bus";
import type { Actor, DataSource } from "@dsb/contracts";

/** What the query path needs to route a request: kept small so the cache stays small. */
export type SourceRoute = Pick<DataSource, "id" | "type" | "file_path" | "db_type" | "cache_ttl_seconds"> & {
  /** Config version when looked up: the connector reloads a cached config of another version (a PATCH it has not heard of yet). */
  version: string | null;
};

/** How long the gateway reuses a source lookup; a delete event evicts it at once. */
export const SOURCE_CACHE_MS = 5_000;

/**
 * Tenant-scoped source lookups for the query hot path, cached briefly. The key
 * includes the tenant, so a hit can never cross tenants; a deleted or changed
 * source is evicted by the catalog's events (the TTL bounds a missed one).
 */
export function createSourceLookup(bus: Bus, ttlMs = SOURCE_CACHE_MS, onEvict?: (tenant: string, id: string) => void) {
  const cache = new TtlCache<SourceRoute>(ttlMs, 20_000);
  const key = (tenant: string, id: string) => `${tenant}\u0000${id}`;
  const evict = (tenant: string, id: string) => {
    cache.delete(key(tenant, id));
    onEvict?.(tenant, id);
  };
  bus.subscribe("catalog.events.source.deleted", (e) => evict(e.tenant_id, e.id));
  bus.subscribe("catalog.events.source.changed", (e) => evict(e.tenant_id, e.id));
  return {
    get: (actor: Actor, id: string, requestId: string): Promise<SourceRoute> =>
      cache.getOrLoad(key(actor.tenant_id, id), async () => {
        const { source, config_version } = await bus.request("catalog.source.get", { actor, id }, { requestId });
        return { id: source.id, type: source.type, file_path: source.file_path, db_type: source.db_type ?? null, cache_ttl_seconds: source.cache_ttl_seconds ?? null, version: config_version ?? null };
      }),
    /** The cached route of a source, without waiting: undefined when it must be looked up (`get`). */
    peek: (actor: Actor, id: string): SourceRoute | undefined => cache.get(key(actor.tenant_id, id)),
    /** Forgets a source changed or deleted through this gateway (and, with `onEvict`, its cached results). */
    evict: (actor: Actor, id: string) => evict(actor.tenant_id, id),
  };
}
export type SourceLookup = ReturnType<typeof createSourceLookup>;
