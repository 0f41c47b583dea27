import { performance } from "node:perf_hooks";
import { AppError, replicaSubject, type ParsedRequestOf } from "@dsb/contracts";
import { mapDriverError } from "../driver-errors.ts";
import { nextPage, readAhead, reply, type CursorMeta, type PageOut, type PageReply } from "../pages.ts";
import type { ConnectorDeps } from "./deps.ts";

/** connector.cursor.<replicaId>: the next page of a parked result, or its close. */
export async function handleCursor(deps: ConnectorDeps, req: ParsedRequestOf<"connector.cursor.*">): Promise<PageReply> {
  if (req.action === "close") {
    const meta = deps.cursors.peek(req.id);
    const rowCount = meta?.rowCount ?? 0;
    const started = meta?.started ?? performance.now();
    await deps.cursors.close(req.id);
    return { rows: [], done: true, truncated: false, row_count: rowCount, execution_time_ms: Math.round(performance.now() - started) };
  }
  let result: { page: PageOut; meta: CursorMeta };
  try {
    result = await deps.cursors.use(req.id, async (reader, meta) => {
      const page = await nextPage(meta).catch((e: unknown) => { throw mapDriverError(e, "query", undefined, meta.abort.signal); });
      // Not after a close that raced this pull (the reader is then done).
      if (!page.done && !reader.done) readAhead(meta);
      return { page, meta };
    });
  } catch (e) {
    if (e instanceof AppError) throw e;
    throw mapDriverError(e, "query");
  }
  const { page, meta } = result;
  if (page.done) await deps.cursors.close(req.id);
  return reply(page, {
    done: page.done, truncated: page.truncated, row_count: meta.rowCount,
    execution_time_ms: Math.round(performance.now() - meta.started),
    ...(page.done ? {} : { cursor: { subject: replicaSubject("connector.cursor.*", deps.replicaId), id: req.id } }),
  });
}
