import { PerformanceObserver, constants } from "node:perf_hooks";
import { describe, expect, it } from "vitest";
import { collectAfterJob, heapGrowthHolders, reclaiming, relaxHeapGrowth } from "./young-gc.ts";

/** Counts V8's collections of `kind` while it runs. */
function gcCounter(kind: number) {
  const seen: number[] = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if ((e as typeof e & { detail?: { kind?: number } }).detail?.kind === kind) seen.push(1);
  });
  obs.observe({ entryTypes: ["gc"] });
  return { count: () => seen.length, stop: () => obs.disconnect() };
}

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

describe("collectAfterJob", () => {
  it("runs one full collection after the delay for jobs ending together, and another for a later job", async () => {
    const major = gcCounter(constants.NODE_PERFORMANCE_GC_MAJOR);
    collectAfterJob(20);
    collectAfterJob(20);
    collectAfterJob(20);
    expect(major.count()).toBe(0);
    await new Promise((r) => setTimeout(r, 100));
    const first = major.count();
    collectAfterJob(20);
    await new Promise((r) => setTimeout(r, 100));
    const second = major.count();
    major.stop();
    // V8 may add its own, but the three calls together ran one and the later call another.
    expect(first).toBeGreaterThanOrEqual(1);
    expect(second).toBeGreaterThanOrEqual(first + 1);
    expect(first).toBeLessThan(3);
  });
});
