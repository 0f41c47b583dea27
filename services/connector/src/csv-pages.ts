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
    const parts: string[] = this.carry ? [this.carry] : [];
    let length = this.carry.length;
    this.carry = "";
    // Characters, not bytes: JSON escapes (\r\n, \") make the encoded page a little longer; checked below.
    const target = Math.floor(budget * 0.85);
    while (length < target && !this.ended) {
      const r = await this.chunks.next();
      const s = r.done ? this.decoder.end() : this.decoder.write(r.value);
      if (r.done) this.ended = true;
      if (!s) continue;
      const t = this.crlf(s);
      parts.push(t);
      length += t.length;
    }
    let text = parts.length === 1 ? parts[0]! : parts.join("");
    for (let bytes = jsonBytes(text); bytes > budget && text.length > 1; bytes = jsonBytes(text)) {
      let cut = Math.max(1, Math.floor(text.length * (budget / bytes) * 0.95));
      const c = text.charCodeAt(cut - 1);
      if (c >= 0xd800 && c <= 0xdbff) cut--; // never split a surrogate pair
      this.carry = text.slice(cut) + this.carry;
      text = text.slice(0, cut);
    }
    return text;
  }

  close(): Promise<unknown> {
    this.ended = true;
    this.carry = "";
    return this.chunks.return?.() ?? Promise.resolve();
  }

  /** `\n` → `\r\n` outside quoted values; counts record ends. */
  private crlf(s: string): string {
    if (!this.inQuotes && s.indexOf('"') === -1) return this.count(s.replaceAll("\n", "\r\n"));
    const segs = s.split('"');
    for (let i = 0; i < segs.length; i++) {
      if (i > 0) this.inQuotes = !this.inQuotes;
      if (!this.inQuotes) segs[i] = segs[i]!.replaceAll("\n", "\r\n");
    }
    return this.count(segs.join('"'));
  }

  private count(s: string): string {
    for (let i = s.indexOf("\n"); i !== -1; i = s.indexOf("\n", i + 1)) this.lines++;
    return s;
  }
}

/** Characters JSON escapes other than `"`, `\n` and `\r` (and lone surrogates): rare in CSV. */
const RARE_ESCAPES = /[\x00-\x09\x0b\x0c\x0e-\x1f\\\ud800-\udfff]/;

function occurrences(s: string, c: string): number {
  let n = 0;
  for (let i = s.indexOf(c); i !== -1; i = s.indexOf(c, i + 1)) n++;
  return n;
}

/**
 * Bytes of `JSON.stringify(s)`. Counted without building that string (a page is
 * ~1 MB; one garbage copy less per page keeps the heap smaller) unless `s` has
 * characters that need the real encoder to size.
 */
function jsonBytes(s: string): number {
  if (RARE_ESCAPES.test(s)) return Buffer.byteLength(JSON.stringify(s));
  return Buffer.byteLength(s) + 2 + occurrences(s, '"') + occurrences(s, "\n") + occurrences(s, "\r");
}
