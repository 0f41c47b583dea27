import { AppError, replicaSubject, type ReplyInputOf } from "@dsb/contracts";
import { CursorRegistry, pageBudget, PageReader, type Bus } from "@dsb/bus";
import type { Env, Logger } from "@dsb/runtime";
import type { BlobStore } from "@dsb/storage";
import { parseUpload, removeDatasets } from "./parse.ts";
import { DatasetCache } from "./query/load.ts";
import { runQuery } from "./query/run.ts";
import { startSweeper } from "./sweep.ts";

export { detectFormat } from "./detect.ts";
export { parseUpload, READERS } from "./parse.ts";
export { datasetPrefix, manifestKey } from "./dataset/layout.ts";
export { sweepStaleUploads, startSweeper } from "./sweep.ts";

/** Uploads are keyed `${tenant_id}/…`; a key of another tenant is as good as missing. */
function ownKey(tenantId: string, key: string): void {
  if (!key.startsWith(`${tenantId}/`)) throw new AppError("NOT_FOUND", "Stored file not found");
}

/** At most `n` parses at once per replica: each holds a file and a batch of rows. */
function limiter(n: number) {
  let active = 0;
  const queue: (() => void)[] = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active >= n) await new Promise<void>((r) => queue.push(r));
    active++;
    try { return await fn(); } finally { active--; queue.shift()?.(); }
  };
}

interface CursorMeta { truncated: boolean; started: number }

/**
 * Starts the ingestion service on the bus: parse, discard, query and
 * this replica's cursor subject.
 */
export async function startIngestion(opts: { env: Env; bus: Bus; log: Logger; replicaId: string; store: BlobStore }): Promise<{ stop(): Promise<void> }> {
  const { env, bus, log, replicaId, store } = opts;
  const cache = new DatasetCache(store, env.DATASET_CACHE_BYTES);
  const cursors = new CursorRegistry<CursorMeta>({ idleMs: 5 * 60_000, maxOpen: 256 });
  const cursorSubject = replicaSubject("ingestion.cursor.*", replicaId);
  const parsing = limiter(2);
  /** Uploads being parsed here, which the sweep must not touch. */
  const busy = new Set<string>();

  const page = async (reader: PageReader, meta: CursorMeta, first: { columns: { name: string; type: string }[] } | null, id?: string): Promise<ReplyInputOf<"ingestion.query">> => {
    const budget = pageBudget(bus.maxPayload, first ? Buffer.byteLength(JSON.stringify(first.columns)) : 0);
    const rows = await reader.next(budget);
    const more = await reader.hasMore();
    let cursorId = id;
    if (more && !cursorId) cursorId = cursors.add(reader, meta);
    if (!more && cursorId) await cursors.close(cursorId);
    return {
      ...(first ? { columns: first.columns } : {}),
      rows,
      done: !more,
      ...(more ? { cursor: { subject: cursorSubject, id: cursorId! } } : {}),
      truncated: meta.truncated,
      row_count: reader.rowsRead,
      execution_time_ms: Date.now() - meta.started,
    };
  };

  const served = await bus.serve("ingestion", {
    "ingestion.parse": async (req) => {
      ownKey(req.tenant_id, req.key);
      const started = Date.now();
      busy.add(req.key);
      const reply = await parsing(() => parseUpload(store, req.key, req.filename)).finally(() => busy.delete(req.key));
      log.info({ key: req.key, format: reply.format, rows: reply.row_count, bytes: reply.dataset_bytes, ms: Date.now() - started }, "✅ upload parsed");
      return reply;
    },
    "ingestion.discard": async (req) => {
      ownKey(req.tenant_id, req.key);
      cache.evict(req.key);
      const n = await removeDatasets(store, req.key);
      const had = await store.exists(req.key);
      if (had) await store.delete(req.key);
      return { removed: had || n > 0 };
    },
    "ingestion.query": async (req) => {
      ownKey(req.tenant_id, req.file_path);
      const started = Date.now();
      const { meta, table } = await cache.table(req.file_path, req.query_config.table);
      // An export (stream) is capped only when the request gives a limit.
      const result = runQuery(meta, table, req.query_config, req.limit);
      const reader = new PageReader(result.batches()[Symbol.asyncIterator]());
      return page(reader, { truncated: result.truncated, started }, { columns: result.columns });
    },
    "ingestion.cursor.*": async (req) => {
      if (req.action === "close") {
        await cursors.close(req.id);
        return { rows: [], done: true, truncated: false, row_count: 0, execution_time_ms: 0 };
      }
      return cursors.use(req.id, (reader, meta) => page(reader, meta, null, req.id));
    },
  }, { replicaId });

  // Every replica hears a deletion and drops its cached dataset. The files stay:
  // deletion is a soft delete; ingestion.discard removes them when asked.
  const deleted = bus.subscribe("catalog.events.source.deleted", (ev) => {
    if (ev.type === "file" && ev.file_path) cache.evict(ev.file_path);
  });

  const sweeper = startSweeper({ store, bus, log, busy, graceMs: env.UPLOAD_SWEEP_GRACE_MS, intervalMs: env.UPLOAD_SWEEP_INTERVAL_MS });

  log.info({ replicaId, cursorSubject }, "🚀 ingestion ready");
  return {
    async stop() {
      await sweeper.stop();
      deleted.unsubscribe();
      await served.stop();
      await cursors.closeAll();
    },
  };
}
