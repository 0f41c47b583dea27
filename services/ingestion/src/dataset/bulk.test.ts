import { describe, expect, it } from "vitest";
import { copyBits, setBits } from "./bulk.ts";

const bitsOf = (a: Uint8Array, n: number) => Array.from({ length: n }, (_, i) => (a[i >> 3]! >> (i & 7)) & 1);

describe("bit helpers of bulk appends", () => {
  it("copyBits copies any bit range to any offset and counts the zeros", () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (let t = 0; t < 300; t++) {
      const src = Uint8Array.from({ length: 40 }, () => Math.floor(rnd() * 256));
      const from = Math.floor(rnd() * 100);
      const count = Math.floor(rnd() * (320 - from - 1));
      const at = Math.floor(rnd() * 50);
      const dst = new Uint8Array(60);
      const zeros = copyBits(dst, at, src, from, count);
      const want = bitsOf(src, from + count).slice(from);
      expect(bitsOf(dst, at + count + 8)).toEqual([...new Array(at).fill(0), ...want, ...new Array(8).fill(0)]);
      expect(zeros).toBe(want.filter((b) => b === 0).length);
    }
  });
  it("setBits sets exactly the range", () => {
    for (const [at, count] of [[0, 0], [3, 2], [5, 20], [8, 16], [1, 63]] as const) {
      const a = new Uint8Array(12);
      setBits(a, at, count);
      expect(bitsOf(a, 96)).toEqual(Array.from({ length: 96 }, (_, i) => (i >= at && i < at + count ? 1 : 0)));
    }
  });
});
