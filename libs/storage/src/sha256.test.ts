import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { sha256js } from "./sha256.ts";

describe("sha256js (the Object Store digest on edge runtimes)", () => {
  it("matches node:crypto for any split of the input", () => {
    for (const size of [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 70_000]) {
      const data = randomBytes(size);
      const h = sha256js();
      // Uneven pieces: a block boundary falls inside them.
      for (let at = 0; at < size; at += 37) h.update(data.subarray(at, Math.min(size, at + 37)));
      expect(Buffer.from(h.digest()).toString("hex"), `size ${size}`).toBe(createHash("sha256").update(data).digest("hex"));
    }
  });
});
