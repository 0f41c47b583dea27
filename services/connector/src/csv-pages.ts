/**
 * Cuts a server's CSV byte stream (COPY: `\n` line ends) into pages of at most a
 * budget of bytes, with `\r\n` record ends like the row path's CSV. Newlines
 * inside quoted values are left alone: a quote state carried across chunks
 * tells inside from outside. Pages are bytes (a bus attachment): a page may end
 * inside a character or a record, the next one goes on from there.
 */
export class CsvPager {
  private carry: Buffer | null = null;
  private inQuotes = false;
  private ended = false;
  /** Record ends seen so far (exact unless values contain newlines). */
  lines = 0;

  constructor(private readonly chunks: AsyncIterator<Buffer>) {}

  get done(): boolean {
    return this.ended && this.carry === null;
  }

  /** The next page: at most `budget` bytes; empty only at the end. */
  async next(budget: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let bytes = 0;
    if (this.carry) {
      parts.push(this.carry);
      bytes = this.carry.length;
      this.carry = null;
    }
    while (bytes < budget && !this.ended) {
      const r = await this.chunks.next();
      if (r.done) {
        this.ended = true;
        break;
      }
      const t = this.crlf(r.value);
      parts.push(t);
      bytes += t.length;
    }
    const page = parts.length === 1 ? parts[0]! : Buffer.concat(parts, bytes);
    if (page.length <= budget) return page;
    this.carry = page.subarray(budget);
    return page.subarray(0, budget);
  }

  close(): Promise<unknown> {
    this.ended = true;
    this.carry = null;
    return this.chunks.return?.() ?? Promise.resolve();
  }

  /**
   * `\n` → `\r\n` outside quoted values, counting record ends. Jumps from quote to
   * newline with native searches; `""` inside a value toggles twice, as it should.
   */
  private crlf(chunk: Buffer): Buffer {
    let nextQ = chunk.indexOf(QUOTE);
    let nextL = chunk.indexOf(LF);
    if (nextL === -1 && nextQ === -1) return chunk;
    const out = Buffer.allocUnsafe(chunk.length * 2);
    let o = 0;
    let from = 0;
    for (;;) {
      if (this.inQuotes) {
        if (nextQ === -1) break;
        this.inQuotes = false;
        const pos = nextQ + 1;
        nextQ = chunk.indexOf(QUOTE, pos);
        if (nextL !== -1 && nextL < pos) nextL = chunk.indexOf(LF, pos);
      } else if (nextL !== -1 && (nextQ === -1 || nextL < nextQ)) {
        o += chunk.copy(out, o, from, nextL);
        out[o++] = CR;
        out[o++] = LF;
        from = nextL + 1;
        this.lines++;
        nextL = chunk.indexOf(LF, from);
      } else if (nextQ !== -1) {
        this.inQuotes = true;
        nextQ = chunk.indexOf(QUOTE, nextQ + 1);
      } else break;
    }
    o += chunk.copy(out, o, from);
    return out.subarray(0, o);
  }
}

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;
