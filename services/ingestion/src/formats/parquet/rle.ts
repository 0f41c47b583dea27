/**
 * Parquet's RLE / bit-packed hybrid encoding (definition levels, dictionary
 * indices, RLE booleans), decoded straight into typed arrays. hyparquet has its
 * own, but it reads byte by byte through a DataView into any array; this one
 * fills runs with `fill` and unpacks 8-value groups from a 32-bit window.
 */

const corrupt = (what: string) => new Error(`parquet ${what} runs past the end of the page`);

/**
 * Decodes `count` values of `width` bits (0..32) from `buf[pos..end)` into `out[outStart..]`.
 * Returns the byte position after the last run read.
 */
export function readHybrid(buf: Uint8Array, pos: number, end: number, width: number, out: Uint8Array | Int32Array, outStart: number, count: number): number {
  const stop = outStart + count;
  let seen = outStart;
  const bytes = (width + 7) >> 3;
  const mask = width >= 32 ? -1 : (1 << width) - 1;
  while (seen < stop) {
    if (pos >= end) throw corrupt("run-length data");
    // varint header
    let header = 0;
    let shift = 0;
    for (;;) {
      if (pos >= end) throw corrupt("run-length header");
      const b = buf[pos++]!;
      header |= (b & 0x7f) << shift;
      if (!(b & 0x80)) break;
      shift += 7;
      if (shift > 28) throw new Error("parquet run-length header is too long");
    }
    if (header & 1) {
      // bit-packed: (header >> 1) groups of 8 values
      const groups = header >>> 1;
      const nbytes = groups * width;
      if (pos + nbytes > end) throw corrupt("bit-packed run");
      const n = Math.min(groups * 8, stop - seen);
      unpack(buf, pos, width, mask, out, seen, n);
      seen += n;
      pos += nbytes;
    } else {
      const run = header >>> 1;
      if (pos + bytes > end) throw corrupt("run");
      let v = 0;
      for (let i = 0; i < bytes; i++) v |= buf[pos + i]! << (i << 3);
      pos += bytes;
      const n = Math.min(run, stop - seen);
      out.fill(v, seen, seen + n);
      seen += n;
    }
  }
  return pos;
}

/** Unpacks n values of `width` bits starting at byte `pos` (LSB first). */
function unpack(buf: Uint8Array, pos: number, width: number, mask: number, out: Uint8Array | Int32Array, at: number, n: number): void {
  if (width === 0) { out.fill(0, at, at + n); return; }
  if (width <= 8) {
    // whole groups of 8 values (`width` bytes) from two 32-bit words, while 8 bytes can be read
    const groups = Math.min(n >> 3, Math.floor((buf.length - pos - 8) / width) + 1);
    if (groups > 0) {
      unpackGroups(buf, pos, width, mask, out, at, groups);
      const done = groups << 3;
      if (done < n) unpackAny(buf, pos + groups * width, width, mask, out, at + done, n - done);
      return;
    }
  }
  unpackAny(buf, pos, width, mask, out, at, n);
}

function unpackGroups(buf: Uint8Array, pos: number, width: number, mask: number, out: Uint8Array | Int32Array, at: number, groups: number): void {
  for (let g = 0, p = pos, o = at; g < groups; g++, p += width, o += 8) {
    const lo = buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16) | (buf[p + 3]! << 24);
    const hi = buf[p + 4]! | (buf[p + 5]! << 8) | (buf[p + 6]! << 16) | (buf[p + 7]! << 24);
    for (let j = 0, s = 0; j < 8; j++, s += width) {
      out[o + j] = (s >= 32 ? hi >>> (s - 32) : s + width > 32 ? (lo >>> s) | (hi << (32 - s)) : lo >>> s) & mask;
    }
  }
}

function unpackAny(buf: Uint8Array, pos: number, width: number, mask: number, out: Uint8Array | Int32Array, at: number, n: number): void {
  const len = buf.length;
  for (let i = 0; i < n; i++) {
    const bit = i * width;
    const b = pos + (bit >>> 3);
    const sh = bit & 7;
    let v: number;
    if (b + 4 < len) {
      v = (buf[b]! | (buf[b + 1]! << 8) | (buf[b + 2]! << 16) | (buf[b + 3]! << 24)) >>> sh;
      if (sh + width > 32) v |= buf[b + 4]! << (32 - sh);
    } else {
      // near the end of the buffer: byte by byte, missing bytes read as 0
      v = 0;
      for (let k = 0, s = -sh; s < width; k++, s += 8) {
        const byte = b + k < len ? buf[b + k]! : 0;
        v |= s >= 0 ? byte << s : byte >>> -s;
      }
    }
    out[at + i] = v & mask;
  }
}
