import type { Handlers } from "@dsb/bus";
import { collectAfterJob, ds, progress } from "@dsb/runtime";
import { parseUpload, removeDatasets } from "../parse.ts";
import { ownKey, type IngestionDeps } from "./deps.ts";

/** At most this many parses at once per replica: each holds a file and a batch of rows. */
export const MAX_PARALLEL_PARSES = 2;

/** Runs at most `n` calls at once; the others wait in arrival order. */
function limiter(n: number) {
  let active = 0;
  const queue: (() => void)[] = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active >= n) await new Promise<void>((r) => queue.push(r));
    active++;
    try { return await fn(); } finally { active--; queue.shift()?.(); }
  };
}

/** ingestion.parse (an upload into a typed dataset) and ingestion.discard (the upload and its dataset). */
export function parseHandlers({ store, log, cache, busy }: IngestionDeps): Handlers<"ingestion.parse" | "ingestion.discard"> {
  const parsing = limiter(MAX_PARALLEL_PARSES);
  const uploads = ds.uploads();
  const uploadBytes = ds.uploadBytes();
  return {
    "ingestion.parse": async (req) => {
      ownKey(req.tenant_id, req.key);
      const started = Date.now();
      busy.add(req.key);
      let reply;
      const phases: Record<string, number> = {};
      // The parsers report nothing while they run: a long parse says it is alive, with the upload's size.
      const ticking = progress(log, "parse", { key: req.key, size: req.size }).tick();
      try {
        reply = await parsing(() => parseUpload(store, req.key, req.filename, phases, req.live)).finally(() => {
          busy.delete(req.key);
          ticking.stop();
          collectAfterJob();
        });
      } catch (e) {
        uploads.inc({ format: "unknown", status: "error" });
        throw e;
      }
      uploads.inc({ format: reply.format, status: "success" });
      uploadBytes.inc(req.live ? (await store.stat(req.key)).size : req.size);
      log.info({ key: req.key, format: reply.format, rows: reply.row_count, bytes: reply.dataset_bytes, ms: Date.now() - started, ...phases }, "✅ upload parsed");
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
  };
}
