import { describe, expect, it } from "vitest";
import { PageBuffers } from "./pages.ts";

describe("PageBuffers", () => {
  it("over NATS takes two buffers in turn, so page N+1 never lands in the buffer of page N", () => {
    const b = new PageBuffers(true);
    const [p1, p2, p3, p4] = [b.take(100), b.take(100), b.take(100), b.take(100)];
    expect(p1).not.toBe(p2);
    expect(p3).toBe(p1);
    expect(p4).toBe(p2);
    // A page larger than its buffer gets a new one in that slot.
    const p5 = b.take(200);
    expect(p5).not.toBe(p1);
    expect(p5.length).toBe(200);
    expect(b.take(100)).toBe(p2);
  });

  it("in process, where the bytes are handed over as they are, gives every page its own buffer", () => {
    const b = new PageBuffers(false);
    const pages = Array.from({ length: 4 }, () => b.take(100));
    expect(new Set(pages).size).toBe(4);
  });
});
