import { createHash } from "node:crypto";
import { createGzip, type Gzip } from "node:zlib";

const utf8 = new TextEncoder();
/** Encoded, hashed and compressed in pieces of about this many characters. */
const BATCH_CHARS = 256 * 1024;

/**
 * A live schema's tables as the database prints them, one table's JSON at a time: encoded in
 * batches, hashed and (for a `gzip_head` request) gzipped on the thread pool while the rest of
 * the rows are still coming, so only the tail of the reply is left after the last one. The
 * bytes are `[t1,t2,…]`, the same as `JSON.stringify` of the tables (the stored hash is theirs).
 */
export class TablesSink {
  readonly pieces: Uint8Array[] = [];
  private readonly hash = createHash("sha256");
  private batch: string[] = [];
  private chars = 0;
  private count = 0;
  private readonly gz: Gzip | null = null;
  private readonly out: Buffer[] = [];
  private readonly gzDone: Promise<void> | null = null;

  /** `head`: the reply's bytes before the tables; with `gzipHead`, its opening brace is replaced by that text. */
  constructor(head: Uint8Array, gzipHead?: string) {
    if (gzipHead === undefined) return;
    const gz = createGzip({ level: 1, chunkSize: 1 << 20 });
    gz.on("data", (c: Buffer) => this.out.push(c));
    this.gzDone = new Promise((resolve, reject) => { gz.on("end", resolve); gz.on("error", reject); });
    this.gzDone.catch(() => undefined); // awaited in gzipped(); a failed query never gets there
    gz.write(utf8.encode(gzipHead));
    gz.write(head.subarray(1));
    this.gz = gz;
  }

  get compressing(): boolean {
    return this.gz !== null;
  }

  /** One table's JSON text. */
  readonly table = (json: string): void => {
    this.batch.push(this.count++ === 0 ? "[" : ",", json);
    this.chars += json.length + 1;
    if (this.chars >= BATCH_CHARS) this.flush();
  };

  private flush(): void {
    const bytes = utf8.encode(this.batch.join(""));
    this.batch = [];
    this.chars = 0;
    this.hash.update(bytes);
    this.pieces.push(bytes);
    this.gz?.write(bytes);
  }

  /** After the last table: the tables' SHA-256 (base64url). */
  finish(): string {
    this.batch.push(this.count === 0 ? "[]" : "]");
    this.flush();
    return this.hash.digest("base64url");
  }

  /** The gzip of the whole reply once `tail` (what follows the tables) is added. */
  async gzipped(tail: Uint8Array): Promise<Buffer> {
    if (!this.gz) throw new Error("TablesSink: not compressing");
    this.gz.end(tail);
    await this.gzDone;
    return Buffer.concat(this.out);
  }

  /** Lets the compressor go (the query failed). */
  close(): void {
    this.gz?.destroy();
  }
}
