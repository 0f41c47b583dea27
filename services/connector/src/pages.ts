/**
 * A query's result as pages: the first one answers `connector.query`, the rest
 * are pulled through this replica's cursor subject while the next is read ahead.
 */
import { PAGES_AHEAD, PageReader, WithBytes } from "@dsb/bus";
import { distinctNames, ndjsonKeyBytes, ndjsonLines, type ColumnMeta, type QueryPage } from "@dsb/contracts";
import type { CsvStream } from "./drivers/types.ts";
import type { Lease } from "./pools.ts";

/** What a held cursor needs besides its reader. */
export interface CursorMeta {
  lease: Lease;
  abort: AbortController;
  timer: NodeJS.Timeout | null;
  /** Most rows this cursor may still deliver in total (Infinity when streaming). */
  cap: number;
  rowCount: number;
  started: number;
  budget: number;
  /** Set once the result is parked in the registry, so the timeout can close it. */
  cursorId?: string;
  /** Takes the query out of the cancel registry (idempotent). */
  unregister: () => void;
  /** Reads the next page (rows, or CSV text for a server-side CSV export). */
  read: () => Promise<PageOut>;
  /** The next page, read while the previous one travels (at most one). */
  ahead: Promise<{ ok: true; page: PageOut } | { ok: false; error: unknown }> | null;
}

/** What a finished cursor leaves for the pull that was already on its way (`CursorRegistry.finish`). */
export type EndedCursor = Pick<CursorMeta, "rowCount" | "started">;

/** One page as the cursor produces it. */
export interface PageOut { rows: unknown[][]; csv?: Buffer; done: boolean; truncated: boolean; /** Free bytes before `csv` in its buffer (WithBytes). */ headroom?: number }

/** What a query or cursor handler answers: a page, with its CSV bytes attached when it carries server-made CSV. */
export type PageReply = QueryPage | WithBytes<QueryPage>;

/**
 * Gives back what a query holds — its timer, its cancel registration, its
 * connection — the one clean-up of every query, whether it ends with its first
 * page, fails, or is closed as a parked cursor.
 */
export function releaseQuery(meta: CursorMeta): void {
  if (meta.timer) clearTimeout(meta.timer);
  meta.unregister();
  meta.lease.release();
}

/** The reply for a page: rows in the JSON, or server-made CSV as the message's attachment. */
export function reply(page: PageOut, fields: Omit<QueryPage, "rows" | "csv" | "csv_attached">): PageReply {
  if (page.csv === undefined) return { ...fields, rows: page.rows };
  return new WithBytes<QueryPage>({ ...fields, rows: [], csv_attached: true }, page.csv, page.headroom);
}

/** Bytes of a page's JSON without its rows, plus room for the envelope. */
export const metaBytes = (page: Partial<QueryPage>) => Buffer.byteLength(JSON.stringify(page)) + 256;

/**
 * Starts reading the next page right away, so the database and the connector
 * work while the gateway writes the page just sent. Bounded: one page.
 */
export function readAhead(meta: CursorMeta): void {
  meta.ahead = meta.read().then((page) => ({ ok: true as const, page }), (error: unknown) => ({ ok: false as const, error }));
}

/** The page read ahead, or the next one read now. */
export async function nextPage(meta: CursorMeta): Promise<PageOut> {
  const ahead = meta.ahead;
  meta.ahead = null;
  if (!ahead) return meta.read();
  const r = await ahead;
  if (!r.ok) throw r.error;
  return r.page;
}

/** A PageReader that only closes the CSV stream (the registry holds readers; CSV pages are read from the stream). */
export const closerFor = (stream: CsvStream) => new PageReader({
  next: async () => ({ done: true, value: undefined }),
  return: async () => {
    await stream.close();
    return { done: true, value: undefined };
  },
});

/**
 * The buffers a CSV export's pages are read into. Over NATS PAGES_AHEAD + 1 are taken in turn: the
 * gateway asks for page N only once page N − PAGES_AHEAD has arrived, and page N is read after
 * page N − 1 was asked for, so the buffer of page N − PAGES_AHEAD − 1 has left this process when
 * page N is read into it. Fresh ones per page otherwise (the in-process transport hands the bytes
 * over as they are). Reused, the export allocates nothing per page, so no dead megabyte buffers
 * pile up until V8's external-memory limit forces a full collection.
 */
export class PageBuffers {
  private readonly ring: Buffer[] = [];
  private turn = 0;
  constructor(private readonly reuse: boolean) {}

  take(size: number): Buffer {
    if (!this.reuse) return Buffer.allocUnsafe(size);
    let b = this.ring[this.turn];
    if (!b || b.length < size) b = this.ring[this.turn] = Buffer.allocUnsafe(size);
    this.turn = (this.turn + 1) % (PAGES_AHEAD + 1);
    return b;
  }
}

/**
 * One page of server-made CSV: at most `budget` bytes, read straight into the page's buffer; a
 * page may end inside a record (or a character), the next one goes on from there. Empty only at the end.
 */
export async function readCsvPage(stream: CsvStream, buffers: PageBuffers, meta: CursorMeta, budget = meta.budget): Promise<PageOut> {
  // Room for the message's frame and JSON before the bytes: the page is sent without a copy.
  const page = buffers.take(CSV_HEADROOM + Math.max(budget, meta.budget)).subarray(0, CSV_HEADROOM + budget);
  const n = await stream.read(page.subarray(CSV_HEADROOM));
  meta.rowCount = stream.rowCount();
  return { rows: [], csv: page.subarray(CSV_HEADROOM, CSV_HEADROOM + n), headroom: CSV_HEADROOM, done: stream.done(), truncated: false };
}

/** A later page's JSON (counts, cursor) takes ~250 bytes; a first page with many columns may not fit and is copied. */
const CSV_HEADROOM = 1024;

/** How a page's rows become export lines written here (NDJSON), and what each line adds to the row's size. */
export interface LinePages { perRowExtra: number; encode(rows: unknown[][]): Buffer }

export function ndjsonPages(columns: ColumnMeta[]): LinePages {
  const names = distinctNames(columns);
  return { perRowExtra: ndjsonKeyBytes(names), encode: (rows) => Buffer.from(ndjsonLines(names, rows)) };
}

/** One page within the cap; `truncated` when the cap cut rows that exist. With `lines`, the rows leave as those lines. */
export async function readPage(reader: PageReader, meta: CursorMeta, budget: number, lines?: LinePages): Promise<PageOut> {
  const read = await reader.next(budget, meta.cap - meta.rowCount, lines?.perRowExtra);
  meta.rowCount += read.length;
  const page = lines ? { rows: [], csv: lines.encode(read) } : { rows: read };
  const more = await reader.hasMore();
  if (!more) return { ...page, done: true, truncated: false };
  if (meta.rowCount >= meta.cap) return { ...page, done: true, truncated: true };
  return { ...page, done: false, truncated: false };
}
