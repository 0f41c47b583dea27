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
/** How long a finished cursor's surplus pull is still answered as ended (it is on its way when the last page leaves). */
const ENDED_KEEP_MS = 60_000;

/**
 * Open cursors of one replica, keyed by opaque id. A cursor nobody pulls for
 * `idleMs` is closed so an abandoned export cannot pin a connection.
 */
/** `M`: what an open cursor carries; `S`: the little a finished one leaves for its surplus pull (never its buffers). */
export class CursorRegistry<M = unknown, S = undefined> {
  private readonly open = new Map<string, OpenCursor<M>>();
  /**
   * Cursors that ended with their last page, for ENDED_KEEP_MS: a reader keeping PAGES_AHEAD
   * requests out has sent one more before it knew the page was the last, and that request is
   * answered from here (`use`'s `ended`) rather than as NOT_FOUND, an error in every export's metrics.
   */
  private readonly ended = new Map<string, { summary: S; at: number }>();
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

  /**
   * Runs `fn` on the cursor, one pull at a time in the order they came; at most PAGES_AHEAD running
   * or waiting. A pull on a cursor that `finish`ed (before it came or while it waited) gets `ended`'s
   * answer when given, NOT_FOUND otherwise.
   */
  async use<T>(id: string, fn: (reader: PageReader, meta: M) => Promise<T>, ended?: (summary: S) => T): Promise<T> {
    const c = this.open.get(id);
    if (!c) return this.afterEnd(id, ended);
    if (c.pulls >= PAGES_AHEAD) throw new AppError("CONFLICT", "Result cursor is already being read");
    c.pulls++;
    const before = c.turn;
    let over!: () => void;
    c.turn = new Promise<void>((r) => { over = r; });
    try {
      await before;
      // Finished, closed or failed while this pull waited.
      if (this.open.get(id) !== c) return this.afterEnd(id, ended);
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

  private afterEnd<T>(id: string, ended: ((summary: S) => T) | undefined): T {
    const e = this.ended.get(id);
    if (e && ended && performance.now() - e.at < ENDED_KEEP_MS) return ended(e.summary);
    throw new AppError("NOT_FOUND", "Result cursor not found or expired; run the query again");
  }

  /** Closes a cursor whose last page was read: a pull already on its way is answered by `use`'s `ended`, from `summary`. */
  async finish(id: string, summary: S): Promise<void> {
    const c = this.open.get(id);
    if (!c) return;
    const now = performance.now();
    for (const [old, e] of this.ended) {
      if (now - e.at < ENDED_KEEP_MS && this.ended.size < this.opts.maxOpen) break;
      this.ended.delete(old); // oldest first (insertion order): expired ones, and past maxOpen remembered
    }
    this.ended.set(id, { summary, at: now });
    await this.close(id);
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
