import { PerformanceObserver, constants } from "node:perf_hooks";
import { describe, expect, it } from "vitest";
import { heapGrowthHolders, reclaiming, relaxHeapGrowth } from "./young-gc.ts";

describe("reclaiming", () => {
  it("passes every chunk through in order and collects the young generation once per everyBytes", async () => {
    const minor: number[] = [];
    const obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if ((e as typeof e & { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) minor.push(1);
    });
    obs.observe({ entryTypes: ["gc"] });
    async function* source() { for (let i = 0; i < 40; i++) yield new Uint8Array(1000).fill(i); }
    const seen: number[] = [];
    for await (const c of reclaiming(source(), 10_000)) seen.push(c[0]!, c.byteLength);
    await new Promise((r) => setTimeout(r, 50));
    obs.disconnect();
    expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => [i, 1000]).flat());
    // 40,000 bytes at one collection per 10,000 (V8 may add its own).
    expect(minor.length).toBeGreaterThanOrEqual(4);
  });
});

describe("relaxHeapGrowth", () => {
  it("counts the streams holding it; each release counts once", () => {
    const before = heapGrowthHolders();
    const a = relaxHeapGrowth();
    const b = relaxHeapGrowth();
    expect(heapGrowthHolders()).toBe(before + 2);
    a();
    a();
    expect(heapGrowthHolders()).toBe(before + 1);
    b();
    expect(heapGrowthHolders()).toBe(before);
  });
});
