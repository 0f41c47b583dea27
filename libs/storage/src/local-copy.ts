import { createReadStream } from "node:fs";
import { mkdtemp, open, rm, type FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BlobStore } from "./blob-store.ts";
import { FsBlobStore } from "./fs.ts";

/**
 * A stored object as a local file that can be read while it is still being
 * copied: `chunks()` yields the bytes as they arrive (each one already
 * written to `path`), so a reader overlaps its first pass with the copy.
 * `path` holds the whole object only once `complete()` resolved.
 */
export interface LocalCopy {
  readonly path: string;
  /** The first `bytes` bytes (fewer if the object is shorter), read ahead and kept for `chunks()`. */
  head(bytes: number): Promise<Uint8Array>;
  /** The object's bytes in order, once; the file grows as they are taken. */
  chunks(): AsyncGenerator<Uint8Array>;
  /** Copies whatever `chunks()` did not take, so `path` is whole. */
  complete(): Promise<void>;
  /** Stops the copy and removes the file (not the object). */
  release(): Promise<void>;
}

const concat = (parts: Uint8Array[], max: number): Uint8Array => {
  const out = new Uint8Array(Math.min(max, parts.reduce((n, p) => n + p.byteLength, 0)));
  let at = 0;
  for (const p of parts) {
    if (at >= out.length) break;
    const n = Math.min(p.byteLength, out.length - at);
    out.set(p.subarray(0, n), at);
    at += n;
  }
  return out;
};

class StreamingCopy implements LocalCopy {
  private readonly ahead: Uint8Array[] = [];
  private aheadBytes = 0;
  private ended = false;

  constructor(readonly path: string, private readonly fh: FileHandle, private readonly source: AsyncIterator<Uint8Array>, private readonly dir: string) {}

  private async pull(): Promise<Uint8Array | null> {
    if (this.ended) return null;
    const r = await this.source.next();
    if (r.done) {
      this.ended = true;
      return null;
    }
    // Written before it is handed on, so the file always holds everything yielded so far.
    await this.fh.write(r.value);
    return r.value;
  }

  async head(bytes: number): Promise<Uint8Array> {
    while (this.aheadBytes < bytes) {
      const c = await this.pull();
      if (c === null) break;
      this.ahead.push(c);
      this.aheadBytes += c.byteLength;
    }
    return concat(this.ahead, bytes);
  }

  async *chunks(): AsyncGenerator<Uint8Array> {
    while (this.ahead.length > 0) {
      const c = this.ahead.shift()!;
      this.aheadBytes -= c.byteLength;
      yield c;
    }
    for (let c = await this.pull(); c !== null; c = await this.pull()) yield c;
  }

  async complete(): Promise<void> {
    this.ahead.length = 0;
    this.aheadBytes = 0;
    while ((await this.pull()) !== null) { /* copying */ }
  }

  async release(): Promise<void> {
    if (!this.ended) await this.source.return?.().catch(() => undefined);
    this.ended = true;
    await this.fh.close().catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** A file store's object is its own file: nothing to copy. */
class InPlace implements LocalCopy {
  constructor(readonly path: string, private readonly release_: () => Promise<void>) {}

  async head(bytes: number): Promise<Uint8Array> {
    const fh = await open(this.path, "r");
    try {
      const buf = new Uint8Array(bytes);
      let got = 0;
      while (got < bytes) {
        const { bytesRead } = await fh.read(buf, got, bytes - got, got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return buf.subarray(0, got);
    } finally {
      await fh.close();
    }
  }

  async *chunks(): AsyncGenerator<Uint8Array> {
    const stream = createReadStream(this.path, { highWaterMark: 1024 * 1024 });
    try {
      for await (const c of stream as AsyncIterable<Buffer>) yield c;
    } finally {
      stream.destroy();
    }
  }

  async complete(): Promise<void> {}

  release(): Promise<void> {
    return this.release_();
  }
}

/**
 * The object `key` as a LocalCopy: the file itself for a file store, else a
 * temp file filled from `get` as the reader goes. NOT_FOUND if absent.
 */
export async function openLocalCopy(store: BlobStore, key: string): Promise<LocalCopy> {
  if (store instanceof FsBlobStore) {
    const local = await store.toLocalFile(key);
    return new InPlace(local.path, local.release);
  }
  const source = store.get(key)[Symbol.asyncIterator]();
  const dir = await mkdtemp(join(tmpdir(), "dsb-blob-"));
  let fh: FileHandle | null = null;
  try {
    const path = join(dir, key.split("/").pop() || "blob");
    fh = await open(path, "w");
    const copy = new StreamingCopy(path, fh, source, dir);
    // The first read surfaces NOT_FOUND here rather than in the reader.
    await copy.head(1);
    return copy;
  } catch (e) {
    await source.return?.().catch(() => undefined);
    await fh?.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}
