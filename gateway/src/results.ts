import { PAGES_AHEAD, type Bus } from "@dsb/bus";
import { AppError, type CursorRef, type QueryPage } from "@dsb/contracts";
import { untilAborted, type Cancellation } from "./running-queries.ts";

/** A page as the gateway handles it: with its CSV bytes when they came as the message's attachment. */
export type Page = QueryPage & { csvBytes?: Uint8Array };

/** A reply of `requestWithBytes` as a Page. */
export const pageOf = ({ reply, bytes }: { reply: QueryPage; bytes: Uint8Array | null }): Page =>
  (reply.csv_attached && bytes ? { ...reply, csvBytes: bytes } : reply);

const patternOf = (cursor: CursorRef) => (cursor.subject.startsWith("ingestion.") ? "ingestion.cursor.*" : "connector.cursor.*");

/**
 * Every page of a result: the first one, then pulls from the cursor on the
 * replica that holds it. PAGES_AHEAD requests are kept out: one more is sent
 * each time the consumer takes a page, so a slow consumer still slows the
 * database read. The request sent before the last page was known is answered
 * as ended by the replica (`CursorRegistry.finish`) and not waited for.
 * Returning early (client gone) closes the cursor, which cancels the query on
 * the database; so does `signal` aborting (a cancel), which ends the wait for a
 * page with its reason.
 */
export async function* allPages(bus: Bus, first: Page, opts: { requestId: string; timeoutMs: number; signal?: Cancellation }): AsyncGenerator<Page> {
  let finished = first.done || !first.cursor;
  const pull = async (cursor: CursorRef): Promise<Page> =>
    pageOf(await bus.requestWithBytes(patternOf(cursor), { id: cursor.id, action: "next" }, { subject: cursor.subject, requestId: opts.requestId, timeoutMs: opts.timeoutMs }));
  const cursor = first.cursor;
  const ahead: Promise<Page>[] = [];
  const ask = () => {
    while (!finished && cursor && ahead.length < PAGES_AHEAD) {
      const next = pull(cursor);
      next.catch(() => undefined); // awaited below; this only keeps an early return from leaving it unhandled
      ahead.push(next);
    }
  };
  let rowCount = first.row_count;
  try {
    ask();
    yield first;
    while (ahead.length > 0) {
      const page = await untilAborted(ahead.shift()!, opts.signal);
      if (page.done || !page.cursor) finished = true;
      // The replica answers a cursor's requests in the order they came; a running count that goes back would be a page out of place.
      if (page.row_count < rowCount) throw new AppError("INTERNAL", `Result pages arrived out of order (row count ${page.row_count} after ${rowCount})`);
      rowCount = page.row_count;
      ask();
      yield page;
      if (finished) return;
    }
  } finally {
    if (!finished && cursor) await closeCursor(bus, cursor, opts.requestId);
  }
}

/** Closes a cursor on the replica that holds it (best effort: an unread cursor also closes when idle). */
export async function closeCursor(bus: Bus, cursor: CursorRef, requestId: string): Promise<void> {
  await bus.request(patternOf(cursor), { id: cursor.id, action: "close" }, { subject: cursor.subject, requestId, timeoutMs: 5_000 }).catch(() => undefined);
}
