import { AppError } from "@dsb/contracts";

const NON_PRINTABLE_ASCII = /[^\x20-\x7e]|["\\]/;

/** Bytes a value takes in JSON, exact for ASCII strings and numbers, measured otherwise. */
export function jsonBytes(v: unknown): number {
  switch (typeof v) {
    case "string":
      return NON_PRINTABLE_ASCII.test(v) ? Buffer.byteLength(JSON.stringify(v)) : v.length + 2;
    case "number":
      return 24;
    case "boolean":
      return 5;
    case "undefined":
      return 4;
    default:
      return v === null ? 4 : Buffer.byteLength(JSON.stringify(v));
  }
}

export function rowBytes(row: readonly unknown[]): number {
  let n = 2 + row.length;
  for (const v of row) n += jsonBytes(v);
  return n;
}

/** Room left for rows in one bus message after the envelope and metadata. */
export const pageBudget = (maxPayload: number, metaBytes = 0) => Math.max(16 * 1024, Math.floor(maxPayload * 0.9) - 2048 - metaBytes);

/**
 * Cuts a stream of row batches into pages that each fit one bus message.
 * Rows left over from a batch wait for the next page; the source is closed
 * when the reader is closed or exhausted.
 */
export class PageReader {
  private buffer: unknown[][] = [];
  private offset = 0;
  private exhausted = false;
  rowsRead = 0;

  constructor(private readonly source: AsyncIterator<unknown[][]>) {}

  get done(): boolean {
    return this.exhausted && this.offset >= this.buffer.length;
  }

  /** Up to `maxRows` rows whose JSON (plus `perRowExtra` bytes each: NDJSON's keys) fits `budget` bytes (at least one row). */
  async next(budget: number, maxRows = Number.POSITIVE_INFINITY, perRowExtra = 0): Promise<unknown[][]> {
    const out: unknown[][] = [];
    let bytes = 0;
    while (out.length < maxRows) {
      if (this.offset >= this.buffer.length) {
        if (this.exhausted) break;
        const r = await this.source.next();
        if (r.done) { this.exhausted = true; break; }
        this.buffer = r.value;
        this.offset = 0;
        continue;
      }
      const row = this.buffer[this.offset]!;
      const size = rowBytes(row) + perRowExtra;
      if (out.length > 0 && bytes + size > budget) break;
      if (size > budget) throw new AppError("QUERY_FAILED", `A single row is ${size} bytes, more than one message can carry (${budget}); select fewer or smaller columns`);
      out.push(row);
      bytes += size;
      this.offset++;
      this.rowsRead++;
    }
    return out;
  }

  /** True if at least one more row exists (reads ahead one batch if needed). */
  async hasMore(): Promise<boolean> {
    while (this.offset >= this.buffer.length && !this.exhausted) {
      const r = await this.source.next();
      if (r.done) this.exhausted = true;
      else { this.buffer = r.value; this.offset = 0; }
    }
    return this.offset < this.buffer.length;
  }

  async close(): Promise<void> {
    this.exhausted = true;
    this.buffer = [];
    await this.source.return?.();
  }
}

interface OpenCursor<M> {
  reader: PageReader;
  meta: M;
  timer: NodeJS.Timeout;
  /** Settles when the last pull to take its turn is over; `pulls` counts those running or waiting. */
  turn: Promise<void>;
  pulls: number;
}

/**
 * Page requests a reader keeps out on a cursor (the gateway's allPages): the next one waits its
 * turn at the replica while the one before is answered, so the replica answers each page as soon
 * as it has read it instead of after a round trip. A request goes out when the page this many
 * before it has arrived, so a replica reusing page buffers needs PAGES_AHEAD + 1 of them: a page
 * that arrived has left it. A cursor takes no more pulls than this at once.
 */
export const PAGES_AHEAD = 2;

/**
 * Open cursors of one replica, keyed by opaque id. A cursor nobody pulls for
 * `idleMs` is closed so an abandoned export cannot pin a connection.
 */
export class CursorRegistry<M = unknown> {
  private readonly open = new Map<string, OpenCursor<M>>();
  constructor(private readonly opts: { idleMs: number; maxOpen: number; onClose?: (meta: M) => void | Promise<void> }) {}

  get size(): number {
    return this.open.size;
  }

  add(reader: PageReader, meta: M): string {
    if (this.open.size >= this.opts.maxOpen)
      throw new AppError("UNAVAILABLE", `Too many open result cursors (${this.opts.maxOpen}); retry when exports finish`, { retryable: true });
    const id = crypto.randomUUID();
    this.open.set(id, { reader, meta, timer: this.arm(id), turn: Promise.resolve(), pulls: 0 });
    return id;
  }

  private arm(id: string): NodeJS.Timeout {
    const t = setTimeout(() => void this.close(id), this.opts.idleMs);
    t.unref();
    return t;
  }

  /** The meta of an open cursor, without taking a turn (a close need not wait for a pull). */
  peek(id: string): M | undefined {
    return this.open.get(id)?.meta;
  }

  /** Runs `fn` on the cursor, one pull at a time in the order they came; at most PAGES_AHEAD running or waiting. */
  async use<T>(id: string, fn: (reader: PageReader, meta: M) => Promise<T>): Promise<T> {
    const c = this.open.get(id);
    if (!c) throw new AppError("NOT_FOUND", "Result cursor not found or expired; run the query again");
    if (c.pulls >= PAGES_AHEAD) throw new AppError("CONFLICT", "Result cursor is already being read");
    c.pulls++;
    const before = c.turn;
    let over!: () => void;
    c.turn = new Promise<void>((r) => { over = r; });
    try {
      await before;
      // Closed (or failed) while this pull waited.
      if (this.open.get(id) !== c) throw new AppError("NOT_FOUND", "Result cursor not found or expired; run the query again");
      clearTimeout(c.timer);
      try {
        return await fn(c.reader, c.meta);
      } catch (e) {
        await this.close(id);
        throw e;
      }
    } finally {
      c.pulls--;
      if (this.open.get(id) === c && c.pulls === 0) c.timer = this.arm(id);
      over();
    }
  }

  async close(id: string): Promise<void> {
    const c = this.open.get(id);
    if (!c) return;
    this.open.delete(id);
    clearTimeout(c.timer);
    try {
      await c.reader.close();
    } finally {
      await this.opts.onClose?.(c.meta);
    }
  }

  async closeAll(): Promise<void> {
    await Promise.allSettled([...this.open.keys()].map((id) => this.close(id)));
  }
}
