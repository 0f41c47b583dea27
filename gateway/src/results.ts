import type { Bus } from "@dsb/bus";
import type { CursorRef, QueryPage } from "@dsb/contracts";
import { untilAborted, type Cancellation } from "./running-queries.ts";

/** A page as the gateway handles it: with its CSV bytes when they came as the message's attachment. */
export type Page = QueryPage & { csvBytes?: Uint8Array };

/** A reply of `requestWithBytes` as a Page. */
export const pageOf = ({ reply, bytes }: { reply: QueryPage; bytes: Uint8Array | null }): Page =>
  (reply.csv_attached && bytes ? { ...reply, csvBytes: bytes } : reply);

const patternOf = (cursor: CursorRef) => (cursor.subject.startsWith("ingestion.") ? "ingestion.cursor.*" : "connector.cursor.*");

/**
 * Every page of a result: the first one, then pulls from the cursor on the
 * replica that holds it. Page N+1 is requested before page N is handed out,
 * so the next page travels while this one is written; never more than one
 * request is in flight, so a slow consumer still slows the database read.
 * Returning early (client gone) closes the cursor, which cancels the query on
 * the database; so does `signal` aborting (a cancel), which ends the wait for a
 * page with its reason.
 */
export async function* allPages(bus: Bus, first: Page, opts: { requestId: string; timeoutMs: number; signal?: Cancellation }): AsyncGenerator<Page> {
  let page: Page | null = first;
  let finished = first.done || !first.cursor;
  const pull = async (cursor: CursorRef): Promise<Page> =>
    pageOf(await bus.requestWithBytes(patternOf(cursor), { id: cursor.id, action: "next" }, { subject: cursor.subject, requestId: opts.requestId, timeoutMs: opts.timeoutMs }));
  let cursor = first.cursor;
  try {
    for (;;) {
      let next: Promise<Page> | null = null;
      if (!finished && cursor) {
        next = pull(cursor);
        next.catch(() => undefined); // awaited below; this only keeps an early return from leaving it unhandled
      }
      yield page;
      // The consumer is done with it: not kept alive while the next page arrives and is parsed.
      page = null;
      if (!next) return;
      page = await untilAborted(next, opts.signal);
      cursor = page.cursor ?? cursor;
      finished = page.done || !page.cursor;
    }
  } finally {
    if (!finished && cursor) await closeCursor(bus, cursor, opts.requestId);
  }
}

/** Closes a cursor on the replica that holds it (best effort: an unread cursor also closes when idle). */
export async function closeCursor(bus: Bus, cursor: CursorRef, requestId: string): Promise<void> {
  await bus.request(patternOf(cursor), { id: cursor.id, action: "close" }, { subject: cursor.subject, requestId, timeoutMs: 5_000 }).catch(() => undefined);
}
