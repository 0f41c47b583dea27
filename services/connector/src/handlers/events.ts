import type { ConnectorDeps } from "./deps.ts";
import { configKey } from "../sources.ts";

/**
 * The catalog's and the gateway's events this replica acts on: a deleted source's
 * pools close; a changed source's cached config goes at once and pools of older
 * config versions close as their leases end; a cancel stops the query if it runs here
 * (every replica hears every cancel). Returns the unsubscribe of all three.
 */
export function subscribeEvents(deps: ConnectorDeps): () => void {
  const { bus, pools, log } = deps;
  const deleted = bus.subscribe("catalog.events.source.deleted", async (ev) => {
    if (ev.type !== "database") return;
    deps.configs.delete(configKey(ev.tenant_id, ev.id));
    await pools.closeSource(ev.id);
    log.info({ source_id: ev.id }, "🔌 pools of deleted source closed");
  });
  const changed = bus.subscribe("catalog.events.source.changed", async (ev) => {
    if (ev.type !== "database") return;
    deps.configs.delete(configKey(ev.tenant_id, ev.id));
    await pools.closeSource(ev.id, ev.version ?? undefined);
  });
  const cancelled = bus.subscribe("gateway.events.query.cancelled", (ev) => {
    if (deps.cancels.cancel(ev.query_id, ev.tenant_id)) log.info({ query_id: ev.query_id }, "🛑 query cancelled");
  });
  return () => {
    deleted.unsubscribe();
    changed.unsubscribe();
    cancelled.unsubscribe();
  };
}
