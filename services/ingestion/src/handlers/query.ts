import { replicaSubject, type ReplyInputOf } from "@dsb/contracts";
import { CursorRegistry, pageBudget, PageReader, type Handlers } from "@dsb/bus";
import { runQuery } from "../query/run.ts";
import { ownKey, type IngestionDeps } from "./deps.ts";

/** A cursor nobody asked for a page this long is closed. */
export const CURSOR_IDLE_MS = 5 * 60_000;
/** Open cursors per replica; a query that would open one more is refused as retryable UNAVAILABLE. */
export const MAX_OPEN_CURSORS = 256;

interface CursorMeta { truncated: boolean; started: number; rowsRead?: number }

/**
 * ingestion.query (a file query, first page) and this replica's
 * ingestion.cursor.<replica> (the next pages, or close). `closeAll` ends every
 * open cursor at shutdown.
 */
export function queryHandlers({ bus, cache, replicaId }: IngestionDeps): { handlers: Handlers<"ingestion.query" | "ingestion.cursor.*">; closeAll(): Promise<void> } {
  const cursors = new CursorRegistry<CursorMeta, CursorMeta>({ idleMs: CURSOR_IDLE_MS, maxOpen: MAX_OPEN_CURSORS });
  const cursorSubject = replicaSubject("ingestion.cursor.*", replicaId);

  const page = async (reader: PageReader, meta: CursorMeta, first: { columns: { name: string; type: string }[] } | null, id?: string): Promise<ReplyInputOf<"ingestion.query">> => {
    const budget = pageBudget(bus.maxPayload, first ? Buffer.byteLength(JSON.stringify(first.columns)) : 0);
    const rows = await reader.next(budget);
    const more = await reader.hasMore();
    let cursorId = id;
    if (more && !cursorId) cursorId = cursors.add(reader, meta);
    if (!more && cursorId) await cursors.finish(cursorId, { ...meta, rowsRead: reader.rowsRead });
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

  /** No more rows: the answer to a close, and to a pull that came after the last page. */
  const end = (meta: CursorMeta | undefined): ReplyInputOf<"ingestion.cursor.*"> => ({
    rows: [], done: true, truncated: meta?.truncated ?? false, row_count: meta?.rowsRead ?? 0,
    execution_time_ms: meta ? Date.now() - meta.started : 0,
  });

  return {
    handlers: {
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
          return end(undefined);
        }
        // A pull that came after the last page (the gateway keeps PAGES_AHEAD out) is told there are no more rows.
        return cursors.use(req.id, (reader, meta) => page(reader, meta, null, req.id), end);
      },
    },
    closeAll: () => cursors.closeAll(),
  };
}
