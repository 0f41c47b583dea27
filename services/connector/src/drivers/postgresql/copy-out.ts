/**
 * `COPY … TO STDOUT` read straight off the session's socket into page buffers.
 *
 * A pg "submittable" like pg-copy-streams' `to`, without its per-row cost: the server sends one
 * CopyData message per record (protocol docs: "messages sent from the backend will always
 * correspond to single data rows"), and pg-copy-streams made a Buffer view of each, queued and
 * concatenated them, after which the record ends still had to be found again, with a quote state,
 * to turn them into `\r\n`. Here the payloads are copied once, from the socket's chunks into the
 * caller's page (a run of whole messages in one piece, then moved down over their headers), and
 * the last byte of each message — the record's `\n` — is written as `\r\n`.
 * Newlines inside quoted values are never a message's last byte, so they stay as they are.
 */
import type { Readable } from "node:stream";

/** What pg hands a submittable. */
interface PgConnection { stream: Readable; query(text: string): void }
type DataHandler = (chunk: Buffer) => void;

const COPY_DATA = 0x64; // 'd'
const COPY_DONE = 0x63; // 'c'
const ERROR_RESPONSE = 0x45; // 'E'
const LF = 0x0a;
const CR = 0x0d;
/** Bytes taken off the socket before it is paused until a page is read: bounded read-ahead (the kernel buffers more). */
const HIGH_WATER = 512 * 1024;

/**
 * Where the run of whole, non-empty CopyData messages starting at `p` ends in `chunk`, as long as
 * their bytes fit in `room` (what they become is smaller: the 5-byte header goes, one CR comes).
 */
function wholeRecords(chunk: Buffer, p: number, room: number): number {
  const limit = Math.min(chunk.length, p + room);
  let q = p;
  while (q + 5 <= limit && chunk[q] === COPY_DATA) {
    const size = chunk.readUInt32BE(q + 1) - 4;
    if (size <= 0 || q + 5 + size > limit) break;
    q += 5 + size;
  }
  return q;
}

export class CopyOut {
  /** Records written to pages so far (exact: one CopyData message is one record). */
  rows = 0;
  /** Bytes received from the server, for a stall timer. */
  bytesIn = 0;
  private conn: PgConnection | null = null;
  private pgData: DataHandler | null = null;
  private chunks: Buffer[] = [];
  /** Read position in chunks[0]. */
  private pos = 0;
  private queued = 0;
  private paused = false;
  /** The current message: its type once its 5-byte header is read, and the payload bytes still to come. */
  private code = -1;
  private left = 0;
  private header = Buffer.alloc(5);
  private headerHave = 0;
  private ended = false;
  private error: unknown = null;
  private wake: (() => void) | null = null;

  private unreported = 0;

  /**
   * `passed` hears how many bytes went through each time the queue runs empty: a young-generation
   * collection then (reclaimer) frees the dead socket reads and promotes none still queued.
   */
  constructor(readonly text: string, private readonly passed: (bytes: number) => void = () => {}) {}

  /** True once CopyDone was read: every record is in the pages. */
  get done(): boolean {
    return this.ended;
  }

  /** Called by pg when the query's turn comes: takes the socket's data from pg's parser until CopyDone. */
  submit(connection: PgConnection): void {
    this.conn = connection;
    const s = connection.stream;
    const listeners = s.listeners("data") as DataHandler[];
    if (listeners.length !== 1) throw new Error(`COPY expected one data listener on the session's socket, found ${listeners.length}`);
    this.pgData = listeners[0]!;
    s.removeListener("data", this.pgData);
    s.on("data", this.onData);
    connection.query(this.text);
  }

  private onData = (chunk: Buffer) => {
    this.chunks.push(chunk);
    this.queued += chunk.length;
    this.bytesIn += chunk.length;
    if (this.queued >= HIGH_WATER && !this.paused) {
      this.paused = true;
      this.conn!.stream.pause();
    }
    this.notify();
  };

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /**
   * Fills `page` with the next records' bytes (`\r\n` record ends); a record may continue on the
   * next page. Resolves with the bytes written: less than the page only at the end of the data.
   */
  async read(page: Buffer): Promise<number> {
    let at = 0;
    for (;;) {
      if (this.error) throw this.error;
      at = this.drain(page, at);
      if (this.error) throw this.error;
      // Chunks left over mean the page is full (a record end needs two bytes).
      if (this.ended || this.chunks.length > 0 || page.length - at < 2) return at;
      if (this.chunks.length === 0) {
        this.passed(this.bytesIn - this.unreported);
        this.unreported = this.bytesIn;
        if (this.paused) {
          this.paused = false;
          this.conn!.stream.resume();
        }
        await new Promise<void>((ok) => { this.wake = ok; });
      }
    }
  }

  /** Parses queued chunks into `page` from `at` until the page or the chunks run out, or CopyDone/ErrorResponse. */
  private drain(page: Buffer, at: number): number {
    while (this.chunks.length > 0 && !this.ended && !this.error) {
      const chunk = this.chunks[0]!;
      let p = this.pos;
      if (this.code === -1 && this.headerHave === 0) {
        const end = wholeRecords(chunk, p, page.length - at);
        if (end > p) {
          at = this.copyRecords(chunk, p, end, page, at);
          this.consumed(chunk, end);
          continue;
        }
      }
      if (this.code === -1) {
        // An error goes back to pg unread, so pg reports it (handleError) and takes the session back.
        if (this.headerHave === 0 && chunk[p] === ERROR_RESPONSE) { this.detach(); return at; }
        while (this.headerHave < 5 && p < chunk.length) this.header[this.headerHave++] = chunk[p++]!;
        if (this.headerHave === 5) {
          this.code = this.header[0]!;
          this.left = this.header.readUInt32BE(1) - 4;
          this.headerHave = 0;
        }
      }
      if (this.code !== -1) {
        const avail = chunk.length - p;
        const take = Math.min(this.left, avail);
        if (this.code === COPY_DATA) {
          const room = page.length - at;
          if (take === this.left && take > 0) {
            // The record's last byte is in this chunk.
            const last = chunk[p + take - 1]!;
            const need = take - 1 + (last === LF ? 2 : 1);
            if (need <= room) {
              at += chunk.copy(page, at, p, p + take - 1);
              if (last === LF) page[at++] = CR;
              page[at++] = last;
              p += take;
              this.left = 0;
              this.rows++;
            } else {
              const n = Math.min(take - 1, room);
              at += chunk.copy(page, at, p, p + n);
              p += n;
              this.left -= n;
              this.consumed(chunk, p);
              return at;
            }
          } else {
            const n = Math.min(take, room);
            at += chunk.copy(page, at, p, p + n);
            p += n;
            this.left -= n;
            if (n < take) { this.consumed(chunk, p); return at; }
          }
        } else {
          // CopyOutResponse, notices, parameter status: skipped.
          p += take;
          this.left -= take;
        }
        if (this.left === 0) {
          const code = this.code;
          this.code = -1;
          if (code === COPY_DONE) {
            this.consumed(chunk, p);
            this.ended = true;
            this.detach();
            return at;
          }
        }
      }
      this.consumed(chunk, p);
    }
    return at;
  }

  /**
   * Writes the records of `chunk[from, to)` (whole CopyData messages) to `page` at `at`: their
   * bytes copied in one piece, then moved down over the message headers in place, each record's
   * last `\n` written as `\r\n`. A copy per record made a view per record (Buffer#copy of a
   * range makes one): a million of them per million rows, for the young generation to collect.
   */
  private copyRecords(chunk: Buffer, from: number, to: number, page: Buffer, at: number): number {
    chunk.copy(page, at, from, to);
    const stop = at + (to - from);
    let src = at;
    while (src < stop) {
      const body = src + 5;
      const end = body + page.readUInt32BE(src + 1) - 4;
      const last = page[end - 1]!;
      // Moving down never overtakes the next header: each record loses 5 header bytes and gains at most one CR.
      page.copyWithin(at, body, end - 1);
      at += end - 1 - body;
      if (last === LF) page[at++] = CR;
      page[at++] = last;
      src = end;
      this.rows++;
    }
    return at;
  }

  /** Moves past `p` bytes of the first chunk, dropping it when read. */
  private consumed(chunk: Buffer, p: number): void {
    this.queued -= p - this.pos;
    if (p >= chunk.length) {
      this.chunks.shift();
      this.pos = 0;
    } else this.pos = p;
  }

  /** Gives the socket back to pg with what is unread (CommandComplete, ReadyForQuery, or an error). */
  private detach(): void {
    const conn = this.conn;
    if (!conn || !this.pgData) return;
    const s = conn.stream;
    const pgData = this.pgData;
    s.removeListener("data", this.onData);
    s.on("data", pgData);
    const rest = this.chunks.length === 0 ? null : Buffer.concat([this.chunks[0]!.subarray(this.pos), ...this.chunks.slice(1)]);
    this.chunks = [];
    this.pos = 0;
    this.queued = 0;
    this.pgData = null;
    if (rest && rest.length > 0) pgData(rest);
    if (this.paused) {
      this.paused = false;
      s.resume();
    }
  }

  // pg's side of a submittable.
  handleError(e: unknown): void {
    this.error ??= e ?? new Error("COPY failed");
    this.detach();
    this.notify();
  }
  handleCommandComplete(): void {}
  handleReadyForQuery(): void {
    this.notify();
  }
}
