import { isAscii, isUtf8 } from "node:buffer";
import type { SlabKind } from "../../dataset/bulk.ts";
import type { FastPlan } from "./plan.ts";

// PLAIN-encoded Parquet values (data pages and dictionaries) turned into their Arrow form.

/** Values of a page or dictionary in Arrow form, before nulls are spread in. */
export type Dense =
  | { kind: 8; v: Int32Array; n: number } // lo/hi int32 pairs
  | { kind: 4; v: Int32Array; n: number }
  | { kind: "bool"; v: Uint8Array; n: number } // 0/1 per value
  | Strings;

/** Strings in place in a page: value i is src[starts[i], starts[i] + lens[i]). */
export interface Strings {
  kind: "utf8";
  src: Uint8Array;
  starts: Int32Array;
  lens: Int32Array;
  n: number;
  /** Longest value and all bytes together (to size the output once). */
  maxLen: number;
  total: number;
  /** Dictionaries used many times over (entries of 8 bytes or more on average): `src` read four bytes at a time (putWords). */
  words?: DataView;
}

const TWO32 = 4294967296;
const decoder = new TextDecoder();

/** A copy aligned for typed-array views (page buffers start anywhere). */
const aligned = (bytes: Uint8Array, start: number, n: number): ArrayBuffer => {
  if (start + n > bytes.length) throw new Error("parquet page is shorter than its values");
  const copy = new Uint8Array(n);
  copy.set(bytes.subarray(start, start + n));
  return copy.buffer;
};

/** Writes the number t (an integer) as an int64 lo/hi pair, like ColumnBuilder.push. */
function putNum(out: Int32Array, i: number, t: number): void {
  const hi = Math.floor(t / TWO32);
  out[2 * i] = (t - hi * TWO32) | 0;
  out[2 * i + 1] = hi | 0;
}

/** trunc(v / d) of the int64 (lo, hi) as a number, exactly what Number(v / BigInt(d)) gives. */
export function divInt64(lo: number, hi: number, d: number): number {
  if (hi >= -0x100000 && hi < 0x100000) {
    // |v| < 2^52: v, q * d and the remainder are exact doubles; fix the quotient's rounding
    const v = hi * TWO32 + (lo >>> 0);
    let q = Math.trunc(v / d);
    const r = v - q * d;
    if (v >= 0) { if (r < 0) q--; else if (r >= d) q++; } else if (r > 0) q++; else if (r <= -d) q--;
    return q === 0 ? 0 : q; // no -0
  }
  const big = (BigInt(hi) << 32n) | BigInt(lo >>> 0);
  return Number(big / BigInt(d));
}

/** `n` PLAIN values from bytes[start..] in the plan's Arrow form. */
export function plainDense(bytes: Uint8Array, start: number, n: number, plan: FastPlan, kind: SlabKind): Dense {
  switch (plan.phys) {
    case "BOOLEAN": {
      if (start + ((n + 7) >> 3) > bytes.length) throw new Error("parquet page is shorter than its values");
      const v = new Uint8Array(n);
      for (let i = 0; i < n; i++) v[i] = (bytes[start + (i >> 3)]! >> (i & 7)) & 1;
      return { kind: "bool", v, n };
    }
    case "INT32": {
      const src = new Int32Array(aligned(bytes, start, n * 4));
      if (kind === 4) return { kind: 4, v: src, n };
      const v = new Int32Array(2 * n);
      if (plan.conv === "zext") for (let i = 0; i < n; i++) v[2 * i] = src[i]!;
      else for (let i = 0; i < n; i++) { const x = src[i]!; v[2 * i] = x; v[2 * i + 1] = x >> 31; }
      return { kind: 8, v, n };
    }
    case "INT64":
      return int64Dense(new Int32Array(aligned(bytes, start, n * 8)), n, plan, kind);
    case "DOUBLE":
      return { kind: 8, v: new Int32Array(aligned(bytes, start, n * 8)), n };
    case "FLOAT": {
      const f = new Float32Array(aligned(bytes, start, n * 4));
      return { kind: 8, v: new Int32Array(Float64Array.from(f).buffer), n };
    }
    case "BYTE_ARRAY":
      return stringsDense(bytes, start, n);
  }
}

function int64Dense(src: Int32Array, n: number, plan: FastPlan, kind: SlabKind): Dense {
  if (plan.conv === "raw") return { kind: 8, v: src, n };
  if (kind === 4) {
    // time of day from micro/nanoseconds: ToInt32 like ColumnBuilder's Int32Array store
    const v = new Int32Array(n);
    for (let i = 0; i < n; i++) v[i] = divInt64(src[2 * i]!, src[2 * i + 1]!, plan.div) | 0;
    return { kind: 4, v, n };
  }
  const v = src; // converted in place (src is a private copy)
  for (let i = 0; i < n; i++) {
    const lo = v[2 * i]!;
    const hi = v[2 * i + 1]!;
    if (plan.conv === "num") {
      // below 2^53 Number() is exact and the pair stays as it is
      if (hi >= -0x200000 && hi < 0x200000) continue;
      putNum(v, i, hi * TWO32 + (lo >>> 0));
    } else {
      putNum(v, i, divInt64(lo, hi, plan.div));
    }
  }
  return { kind: 8, v, n };
}

/** BYTE_ARRAY values (4-byte length + bytes each), kept in place; values that are not plain UTF-8 are re-encoded like TextDecoder would. */
function stringsDense(bytes: Uint8Array, start: number, n: number): Dense {
  const starts = new Int32Array(n);
  const lens = new Int32Array(n);
  let pos = start;
  let maxLen = 0;
  const len = bytes.length;
  for (let i = 0; i < n; i++) {
    if (pos + 4 > len) throw new Error("parquet string runs past the end of the page");
    const l = (bytes[pos]! | (bytes[pos + 1]! << 8) | (bytes[pos + 2]! << 16) | (bytes[pos + 3]! << 24)) >>> 0;
    pos += 4;
    if (pos + l > len) throw new Error("parquet string runs past the end of the page");
    starts[i] = pos;
    lens[i] = l;
    if (l > maxLen) maxLen = l;
    pos += l;
  }
  const d: Strings = { kind: "utf8", src: bytes, starts, lens, n, maxLen, total: pos - start - 4 * n };
  // all ASCII (length prefixes included, so values under 128 bytes): nothing to check
  return isAscii(bytes.subarray(start, pos)) ? d : sanitize(d);
}

/**
 * The slow path decodes with TextDecoder (invalid sequences → U+FFFD, a leading BOM dropped) and
 * writes the string back as UTF-8; only values with non-ASCII bytes can differ, so only those are checked.
 */
function sanitize(d: Strings): Strings {
  const { src, starts, lens, n } = d;
  const fixed = new Map<number, Uint8Array>();
  for (let i = 0; i < n; i++) {
    const b = starts[i]!;
    const e = b + lens[i]!;
    let hi = 0;
    for (let k = b; k < e; k++) hi |= src[k]!;
    if (!(hi & 0x80)) continue;
    const v = src.subarray(b, e);
    const bom = v.length >= 3 && v[0] === 0xef && v[1] === 0xbb && v[2] === 0xbf;
    if (bom || !isUtf8(v)) fixed.set(i, Buffer.from(decoder.decode(v), "utf8"));
  }
  if (fixed.size === 0) return d;
  let total = 0;
  for (let i = 0; i < n; i++) total += fixed.get(i)?.length ?? lens[i]!;
  const out = new Uint8Array(total);
  const s2 = new Int32Array(n);
  const l2 = new Int32Array(n);
  let pos = 0;
  let maxLen = 0;
  for (let i = 0; i < n; i++) {
    const v = fixed.get(i) ?? src.subarray(starts[i]!, starts[i]! + lens[i]!);
    out.set(v, pos);
    s2[i] = pos;
    l2[i] = v.length;
    if (v.length > maxLen) maxLen = v.length;
    pos += v.length;
  }
  return { kind: "utf8", src: out, starts: s2, lens: l2, n, maxLen, total };
}

export const EMPTY: Record<SlabKind, Dense> = {
  8: { kind: 8, v: new Int32Array(0), n: 0 },
  4: { kind: 4, v: new Int32Array(0), n: 0 },
  bool: { kind: "bool", v: new Uint8Array(0), n: 0 },
  utf8: { kind: "utf8", src: new Uint8Array(0), starts: new Int32Array(0), lens: new Int32Array(0), n: 0, maxLen: 0, total: 0 },
};

