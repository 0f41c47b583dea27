import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { FRAME_BYTES, lz4Frames, lz4Native, lz4Unframe } from "./lz4.ts";

const native = lz4Native()!;

async function framed(chunks: Uint8Array[]): Promise<Uint8Array> {
  const out: Uint8Array[] = [];
  for await (const c of lz4Frames((async function* () { yield* chunks; })(), native)) out.push(c.slice());
  return Buffer.concat(out);
}

/** Text-like bytes with long and short repeats (overlapping matches), then noise nothing matches. */
function sample(n: number): Uint8Array {
  const b = Buffer.alloc(n);
  let at = 0;
  for (let i = 0; at < n; i++) at += b.write(i % 50 < 40 ? `row ${i % 977},abababababab,${"x".repeat(i % 300)}\n` : `${i}`, at);
  randomBytes(Math.min(50_000, n >> 3)).copy(b, n - Math.min(50_000, n >> 3));
  return b;
}

describe("dataset LZ4 frames", () => {
  it("loads lz4-napi here (the dataset is stored compressed on this platform)", () => {
    expect(native).not.toBeNull();
  });

  it.each([
    ["empty", 0],
    ["one byte", 1],
    ["under a frame", 70_001],
    ["several frames, the last one partial", 2 * FRAME_BYTES + 12_345],
  ])("%s: the frames give back the bytes, through lz4-napi and through the JavaScript decoder", async (_label, n) => {
    const raw = sample(n);
    // uneven chunks, as the Arrow writer hands them over
    const chunks: Uint8Array[] = [];
    for (let at = 0, k = 1; at < n; at += k * 7919, k++) chunks.push(raw.slice(at, Math.min(n, at + k * 7919)));
    const stored = await framed(chunks);
    if (n > 100_000) expect(stored.length).toBeLessThan(n / 2);
    expect(Buffer.from(lz4Unframe(stored, native)).equals(Buffer.from(raw))).toBe(true);
    expect(Buffer.from(lz4Unframe(stored, null)).equals(Buffer.from(raw))).toBe(true);
  });

  it("a chunk is copied before the next is asked for (the source may reuse its buffer)", async () => {
    const buf = Buffer.alloc(300_000);
    const expected: Buffer[] = [];
    async function* reused() {
      for (let i = 0; i < 8; i++) {
        buf.fill(`chunk ${i} `);
        expected.push(Buffer.from(buf));
        yield buf;
      }
    }
    const out: Uint8Array[] = [];
    for await (const c of lz4Frames(reused(), native)) out.push(c.slice());
    expect(Buffer.from(lz4Unframe(Buffer.concat(out), null)).equals(Buffer.concat(expected))).toBe(true);
  });

  it("truncated or altered frames are refused, not decoded into garbage", async () => {
    const stored = await framed([sample(200_000)]);
    expect(() => lz4Unframe(stored.subarray(0, stored.length - 3), null)).toThrow(/corrupt/);
    expect(() => lz4Unframe(stored.subarray(0, stored.length - 3), native)).toThrow();
    const bent = Buffer.from(stored);
    bent.writeUInt32LE(bent.readUInt32LE(4) + 1000, 4); // the raw length no longer matches the block
    expect(() => lz4Unframe(bent, null)).toThrow(/corrupt/);
    expect(() => lz4Unframe(bent, native)).toThrow();
  });
});
