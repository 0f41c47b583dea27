import { describe, expect, it } from "vitest";
import { readHybrid } from "./rle.ts";

/** Bit-packs values LSB first, as Parquet does. */
function pack(values: number[], width: number): number[] {
  const bytes = new Array(Math.ceil((values.length * width) / 8)).fill(0);
  values.forEach((v, i) => { for (let b = 0; b < width; b++) if ((v >>> b) & 1) { const bit = i * width + b; bytes[bit >> 3] |= 1 << (bit & 7); } });
  return bytes;
}

const varint = (n: number) => { const out: number[] = []; while (n > 0x7f) { out.push((n & 0x7f) | 0x80); n >>>= 7; } out.push(n); return out; };

describe("readHybrid", () => {
  it("decodes bit-packed and RLE runs of every width, with the packed run at the very end of the buffer", () => {
    let seed = 11;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (let width = 0; width <= 32; width++) {
      for (const groups of [1, 2, 5, 33]) {
        const max = width === 32 ? 2 ** 32 : 2 ** width;
        const packed = Array.from({ length: groups * 8 }, () => Math.floor(rnd() * max));
        const rle = Math.floor(rnd() * max);
        const bytes = [...varint((3 << 1)), ...Array.from({ length: (width + 7) >> 3 }, (_, i) => (rle >>> (8 * i)) & 0xff), ...varint((groups << 1) | 1), ...pack(packed, width)];
        const take = 3 + groups * 8 - 3; // stop inside the packed run
        const out = new Int32Array(take);
        readHybrid(Uint8Array.from(bytes), 0, bytes.length, width, out, 0, take);
        expect(Array.from(out)).toEqual([rle, rle, rle, ...packed].slice(0, take).map((v) => v | 0));
      }
    }
  });
  it("refuses runs past the end instead of looping", () => {
    expect(() => readHybrid(Uint8Array.from([0x03, 0xff]), 0, 2, 8, new Int32Array(16), 0, 16)).toThrow(/past the end/);
    expect(() => readHybrid(Uint8Array.from([0x04]), 0, 1, 1, new Uint8Array(8), 0, 8)).toThrow(/past the end/);
  });
});
