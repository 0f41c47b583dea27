import type { Bus } from "@dsb/bus";
import type { Env, Logger } from "@dsb/runtime";
import type { BlobStore } from "@dsb/storage";
import type { IngestionDeps } from "./handlers/deps.ts";
import { parseHandlers } from "./handlers/parse.ts";
import { queryHandlers } from "./handlers/query.ts";
import { DatasetCache } from "./query/load.ts";
import { startSweeper } from "./sweep.ts";

export { detectFormat } from "./detect.ts";
export { parseUpload, READERS } from "./parse.ts";
export { datasetPrefix, manifestKey } from "./dataset/layout.ts";
export { sweepStaleUploads, startSweeper } from "./sweep.ts";

export interface IngestionOptions {
  env: Env;
  bus: Bus;
  log: Logger;
  replicaId: string;
  store: BlobStore;
}

/**
 * Starts the ingestion service on the bus: parse, discard, query and
 * this replica's cursor subject (handlers/), the cache eviction on source
 * deletion, and the stale-upload sweep.
 */
export async function startIngestion(opts: IngestionOptions): Promise<{ stop(): Promise<void> }> {
  const { env, bus, log, replicaId, store } = opts;
  const deps: IngestionDeps = { bus, log, store, replicaId, cache: new DatasetCache(store, env.DATASET_CACHE_BYTES), busy: new Set() };
  const query = queryHandlers(deps);
  const served = await bus.serve("ingestion", { ...parseHandlers(deps), ...query.handlers }, { replicaId });

  // Every replica hears a deletion and drops its cached dataset. The files stay:
  // deletion is a soft delete; ingestion.discard removes them when asked.
  const deleted = bus.subscribe("catalog.events.source.deleted", (ev) => {
    if (ev.type === "file" && ev.file_path) deps.cache.evict(ev.file_path);
  });

  const sweeper = startSweeper({ store, bus, log, busy: deps.busy, graceMs: env.UPLOAD_SWEEP_GRACE_MS, intervalMs: env.UPLOAD_SWEEP_INTERVAL_MS });

  log.info({ replicaId }, "🚀 ingestion ready");
  return {
    async stop() {
      await sweeper.stop();
      deleted.unsubscribe();
      await served.stop();
      await query.closeAll();
    },
  };
}
