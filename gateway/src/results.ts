import type { Bus } from "@dsb/bus";
import type { QueryPage } from "@dsb/contracts";

/**
 * Every page of a result: the first one, then pulls from the cursor on the
 * replica that holds it. Returning early (client gone) closes the cursor,
 * which cancels the query on the database.
 */
export async function* allPages(bus: Bus, first: QueryPage, opts: { requestId: string; timeoutMs: number }): AsyncGenerator<QueryPage> {
  let page = first;
  let finished = page.done || !page.cursor;
  try {
    yield page;
    while (!finished && page.cursor) {
      const cursor = page.cursor;
      const pattern = cursor.subject.startsWith("ingestion.") ? "ingestion.cursor.*" : "connector.cursor.*";
      page = await bus.request(pattern, { id: cursor.id, action: "next" }, { subject: cursor.subject, requestId: opts.requestId, timeoutMs: opts.timeoutMs });
      finished = page.done || !page.cursor;
      yield page;
    }
  } finally {
    if (!finished && page.cursor) {
      const cursor = page.cursor;
      const pattern = cursor.subject.startsWith("ingestion.") ? "ingestion.cursor.*" : "connector.cursor.*";
      await bus.request(pattern, { id: cursor.id, action: "close" }, { subject: cursor.subject, requestId: opts.requestId, timeoutMs: 5_000 }).catch(() => undefined);
    }
  }
}
