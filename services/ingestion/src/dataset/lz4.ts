import { createRequire } from "node:module";

/**
 * LZ4 frames of a stored dataset table (manifest `compression: "lz4"`). A dataset is
 * ~15× its Parquet file and every byte of it is hashed, copied into NATS messages and
 * written by the server; LZ4 shrinks the bench's 82 MiB to 14 MiB for ~50 ms.
 *
 * Layout: frames of up to FRAME_BYTES raw bytes, each `u32 LE n` then n bytes of
 * `u32 LE raw length` + one LZ4 block (what lz4-napi's compressSync writes).
 */

export const FRAME_BYTES = 1 << 20;

export interface Lz4Native {
  compressSync(data: Buffer): Buffer;
  uncompressSync(data: Uint8Array): Buffer;
}

let native: Lz4Native | null | undefined;

/** lz4-napi when its prebuilt binary loads on this platform, else null (datasets are then stored as they are). */
export function lz4Native(): Lz4Native | null {
  if (native === undefined) {
    try {
      native = createRequire(import.meta.url)("lz4-napi") as Lz4Native;
    } catch {
      native = null;
    }
  }
  return native;
}

const u32 = (b: Uint8Array, at: number) => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;

/**
 * The body in LZ4 frames. Each chunk is copied before the next is asked for, so the
 * source may reuse its memory then (the BlobStore.put contract, passed on).
 */
export async function* lz4Frames(body: AsyncIterable<Uint8Array>, lz: Lz4Native): AsyncGenerator<Uint8Array> {
  const raw = Buffer.allocUnsafe(FRAME_BYTES);
  let fill = 0;
  function* frame(): Generator<Uint8Array> {
    const block = lz.compressSync(raw.subarray(0, fill));
    const head = new Uint8Array(4);
    new DataView(head.buffer).setUint32(0, block.length, true);
    fill = 0;
    yield head;
    yield block;
  }
  for await (const c of body) {
    for (let off = 0; off < c.length;) {
      const n = Math.min(FRAME_BYTES - fill, c.length - off);
      raw.set(c.subarray(off, off + n), fill);
      fill += n;
      off += n;
      if (fill === FRAME_BYTES) yield* frame();
    }
  }
  if (fill > 0) yield* frame();
}

const corrupt = () => new Error("the dataset's LZ4 frames are corrupt");

/** The bytes of a frame sequence (lz4-napi when loaded, else the decoder below). */
export function lz4Unframe(src: Uint8Array, lz: Lz4Native | null = lz4Native()): Uint8Array {
  let total = 0;
  for (let p = 0; p < src.length;) {
    if (p + 8 > src.length) throw corrupt();
    const n = u32(src, p);
    if (n < 4 || p + 4 + n > src.length) throw corrupt();
    total += u32(src, p + 4);
    p += 4 + n;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (let p = 0; p < src.length;) {
    const n = u32(src, p);
    const size = u32(src, p + 4);
    const dst = out.subarray(at, at + size);
    if (lz) {
      const raw = lz.uncompressSync(src.subarray(p + 4, p + 4 + n));
      if (raw.length !== size) throw corrupt();
      dst.set(raw);
    } else if (lz4Block(src, p + 8, p + 4 + n, dst) !== size) {
      throw corrupt();
    }
    at += size;
    p += 4 + n;
  }
  return out;
}

/** Decodes one LZ4 block src[from, to) into dst; returns the bytes written. */
export function lz4Block(src: Uint8Array, from: number, to: number, dst: Uint8Array): number {
  let s = from;
  let d = 0;
  const more = (n: number): number => {
    for (let b = 255; b === 255;) {
      if (s >= to) throw corrupt();
      b = src[s++]!;
      n += b;
    }
    return n;
  };
  while (s < to) {
    const token = src[s++]!;
    let lit = token >>> 4;
    if (lit === 15) lit = more(lit);
    if (s + lit > to || d + lit > dst.length) throw corrupt();
    dst.set(src.subarray(s, s + lit), d);
    s += lit;
    d += lit;
    if (s === to) break; // the last sequence is literals only
    if (s + 2 > to) throw corrupt();
    const off = src[s]! | (src[s + 1]! << 8);
    s += 2;
    let len = token & 15;
    if (len === 15) len = more(len);
    len += 4;
    if (off === 0 || off > d || d + len > dst.length) throw corrupt();
    if (off >= len) dst.copyWithin(d, d - off, d - off + len);
    else for (let k = 0; k < len; k++) dst[d + k] = dst[d - off + k]!; // overlapping: a repeated pattern
    d += len;
  }
  return d;
}
