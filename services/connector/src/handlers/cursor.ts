import { performance } from "node:perf_hooks";
import { AppError, replicaSubject, type ParsedRequestOf } from "@dsb/contracts";
import { mapDriverError } from "../driver-errors.ts";
import { nextPage, readAhead, reply, type CursorMeta, type EndedCursor, type PageOut, type PageReply } from "../pages.ts";
import type { ConnectorDeps } from "./deps.ts";

/** connector.cursor.<replicaId>: the next page of a parked result, or its close. */
export async function handleCursor(deps: ConnectorDeps, req: ParsedRequestOf<"connector.cursor.*">): Promise<PageReply> {
  /** No more rows: the answer to a close, and to a pull that came after the last page (`finish`). */
  const end = (meta: EndedCursor | undefined): PageReply => ({
    rows: [], done: true, truncated: false, row_count: meta?.rowCount ?? 0,
    execution_time_ms: Math.round(performance.now() - (meta?.started ?? performance.now())),
  });
  if (req.action === "close") {
    const meta = deps.cursors.peek(req.id);
    await deps.cursors.close(req.id);
    return end(meta);
  }
  type Pulled = { page: PageOut; meta: CursorMeta };
  let result: Pulled | PageReply;
  try {
    result = await deps.cursors.use<Pulled | PageReply>(req.id, async (reader, meta) => {
      const page = await nextPage(meta).catch((e: unknown) => { throw mapDriverError(e, "query", undefined, meta.abort.signal); });
      // Not after a close that raced this pull (the reader is then done).
      if (!page.done && !reader.done) readAhead(meta);
      // Within the pull's turn, so that the pull kept out behind it finds the cursor finished.
      if (page.done) await deps.cursors.finish(req.id, { rowCount: meta.rowCount, started: meta.started });
      return { page, meta };
    }, end);
  } catch (e) {
    if (e instanceof AppError) throw e;
    throw mapDriverError(e, "query");
  }
  if (!("page" in result)) return result;
  const { page, meta } = result;
  return reply(page, {
    done: page.done, truncated: page.truncated, row_count: meta.rowCount,
    execution_time_ms: Math.round(performance.now() - meta.started),
    ...(page.done ? {} : { cursor: { subject: replicaSubject("connector.cursor.*", deps.replicaId), id: req.id } }),
  });
}
