import { StringDecoder } from "node:string_decoder";

/**
 * Cuts a server's CSV byte stream (COPY: `\n` line ends) into page texts that fit
 * one bus message as a JSON string, with `\r\n` record ends like the row path's
 * CSV. Newlines inside quoted values are left alone: a quote count carried across
 * chunks tells inside from outside.
 */
export class CsvPager {
  private readonly decoder = new StringDecoder("utf8");
  private carry = "";
  private inQuotes = false;
  private ended = false;
  /** Record ends seen so far (exact unless values contain newlines). */
  lines = 0;

  constructor(private readonly chunks: AsyncIterator<Buffer>) {}

  get done(): boolean {
    return this.ended && this.carry === "";
  }

  /** The next page: at most `budget` bytes once JSON-encoded; empty only at the end. */
  async next(budget: number): Promise<string> {
    let text = this.carry;
    let bytes = text ? jsonBytes(text) : 2;
    this.carry = "";
    const target = Math.floor(budget * 0.9);
    while (bytes < target && !this.ended) {
      const r = await this.chunks.next();
      const s = r.done ? this.decoder.end() : this.decoder.write(r.value);
      if (r.done) this.ended = true;
      if (!s) continue;
      const rare = RARE_ESCAPES.test(s);
      const { t, escapes } = this.crlf(s);
      // A rope: JSON.stringify on the bus flattens it once, instead of a join here and a copy there.
      text += t;
      bytes += rare ? jsonBytes(t) - 2 : Buffer.byteLength(t) + escapes;
    }
    while (bytes > budget && text.length > 1) {
      let cut = Math.max(1, Math.floor(text.length * (budget / bytes) * 0.95));
      const c = text.charCodeAt(cut - 1);
      if (c >= 0xd800 && c <= 0xdbff) cut--; // never split a surrogate pair
      this.carry = text.slice(cut) + this.carry;
      text = text.slice(0, cut);
      bytes = jsonBytes(text);
    }
    return text;
  }

  close(): Promise<unknown> {
    this.ended = true;
    this.carry = "";
    return this.chunks.return?.() ?? Promise.resolve();
  }

  /**
   * `\n` → `\r\n` outside quoted values; counts record ends, and the characters
   * JSON escapes as two (`"`, `\n`, `\r`) when nothing rarer is in `s`.
   */
  private crlf(s: string): { t: string; escapes: number } {
    if (!this.inQuotes && s.indexOf('"') === -1) {
      const n = occurrences(s, "\n");
      this.lines += n;
      return { t: n ? s.replaceAll("\n", "\r\n") : s, escapes: 2 * n };
    }
    const segs = s.split('"');
    for (let i = 0; i < segs.length; i++) {
      if (i > 0) this.inQuotes = !this.inQuotes;
      if (!this.inQuotes) segs[i] = segs[i]!.replaceAll("\n", "\r\n");
    }
    const t = segs.join('"');
    const n = occurrences(t, "\n");
    this.lines += n;
    return { t, escapes: segs.length - 1 + n + occurrences(t, "\r") };
  }
}

/**
 * Characters JSON escapes other than `"` and `\n` (`\r` too: the added ones are
 * counted, one in the data is not): rare in CSV, so such chunks are sized by the encoder.
 */
const RARE_ESCAPES = /[\x00-\x09\x0b-\x1f\\]/;

function occurrences(s: string, c: string): number {
  let n = 0;
  for (let i = s.indexOf(c); i !== -1; i = s.indexOf(c, i + 1)) n++;
  return n;
}

/** Bytes of `JSON.stringify(s)`, measured (chunks with rare escapes, a cut page). */
const jsonBytes = (s: string) => Buffer.byteLength(JSON.stringify(s));
