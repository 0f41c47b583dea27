import { CursorRegistry, TtlCache, type Bus } from "@dsb/bus";
import type { Env, Logger } from "@dsb/runtime";
import { CancelRegistry } from "./cancels.ts";
import { handleCursor } from "./handlers/cursor.ts";
import type { ConnectorDeps, ResolvedSource } from "./handlers/deps.ts";
import { subscribeEvents } from "./handlers/events.ts";
import { handleHealthCheck } from "./handlers/health.ts";
import { handleIntrospect } from "./handlers/introspect.ts";
import { handleQuery } from "./handlers/query.ts";
import { handleTest } from "./handlers/test.ts";
import { releaseQuery, type CursorMeta, type EndedCursor } from "./pages.ts";
import { PoolRegistry } from "./pools.ts";
import { startPoolGauges } from "./pool-gauges.ts";

export { DRIVER_LOADERS, driverFor } from "./drivers/index.ts";
export { checkTargets, classifyAddress, connectChecked } from "./address-policy.ts";
export { compileQueryConfig } from "./query-config.ts";
export type { Connection, Driver, DialTarget, QueryOptions, QueryStream } from "./drivers/types.ts";

/** How long an unread result cursor stays open. */
export const CURSOR_IDLE_MS = 60_000;
/** How long a resolved config is reused without asking the catalog (delete events evict sooner). */
export const CONFIG_CACHE_MS = 30_000;
/** Open result cursors per replica (each pins one database connection). */
export const MAX_CURSORS = 64;

export interface ConnectorOptions {
  env: Env;
  bus: Bus;
  log: Logger;
  replicaId: string;
}

/**
 * Serves connector.test / health.check / introspect / query and this replica's
 * connector.cursor.<replicaId>; closes a source's pools when the catalog
 * publishes its deletion or a change of its config.
 */
export async function startConnector(opts: ConnectorOptions): Promise<{ stop(): Promise<void> }> {
  const { env, bus, log, replicaId } = opts;
  const pools = new PoolRegistry({ maxPools: env.MAX_POOLS, log });
  const gauges = startPoolGauges(pools);
  const cursors = new CursorRegistry<CursorMeta, EndedCursor>({
    idleMs: CURSOR_IDLE_MS,
    maxOpen: MAX_CURSORS,
    onClose: releaseQuery,
  });
  const deps: ConnectorDeps = {
    bus, pools, cursors, replicaId, log,
    policy: { allowPrivateHosts: env.allowPrivateHosts },
    maxRows: env.QUERY_MAX_ROWS,
    configs: new TtlCache<ResolvedSource>(CONFIG_CACHE_MS),
    cancels: new CancelRegistry(),
  };
  const served = await bus.serve(
    "connector",
    {
      "connector.test": (req) => handleTest(deps, req.config),
      "connector.health.check": (req) => handleHealthCheck(deps, req),
      "connector.introspect": (req) => handleIntrospect(deps, req),
      "connector.query": (req) => handleQuery(deps, req),
      "connector.cursor.*": (req) => handleCursor(deps, req),
    },
    { replicaId },
  );
  const unsubscribe = subscribeEvents(deps);
  log.info({ replica: replicaId, allow_private_hosts: env.allowPrivateHosts }, "✅ connector ready");
  let stopping: Promise<void> | null = null;
  return {
    stop: () =>
      (stopping ??= (async () => {
        gauges.stop();
        unsubscribe();
        await served.stop();
        await cursors.closeAll();
        await pools.closeAll();
      })()),
  };
}
