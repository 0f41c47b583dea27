import { describe, expect, it } from "vitest";
import { PAGES_AHEAD } from "@dsb/bus";
import { PageBuffers } from "./pages.ts";

describe("PageBuffers", () => {
  it("over NATS takes PAGES_AHEAD + 1 buffers in turn, so a page never lands in the buffer of a page that may still be on its way", () => {
    const b = new PageBuffers(true);
    const ring = PAGES_AHEAD + 1;
    const pages = Array.from({ length: 2 * ring }, () => b.take(100));
    expect(new Set(pages.slice(0, ring)).size).toBe(ring);
    pages.slice(ring).forEach((p, i) => expect(p).toBe(pages[i]));
    // A page larger than its buffer gets a new one in that slot.
    const bigger = b.take(200);
    expect(bigger).not.toBe(pages[0]);
    expect(bigger.length).toBe(200);
    expect(b.take(100)).toBe(pages[1]);
  });

  it("in process, where the bytes are handed over as they are, gives every page its own buffer", () => {
    const b = new PageBuffers(false);
    const pages = Array.from({ length: 4 }, () => b.take(100));
    expect(new Set(pages).size).toBe(4);
  });
});
