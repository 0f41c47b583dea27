import v8 from "node:v8";
import { describe, expect, it } from "vitest";
import { collectWhenIdle, engineGc, fullGc, idleGcDue, IDLE_CHECKS } from "./idle-gc.ts";

const MiB = 2 ** 20;
const used = () => v8.getHeapStatistics().used_heap_size;

describe("idle GC", () => {
  it("collects only when the event loop has been idle for a while and the heap grew past the threshold since the last collection", () => {
    const base = { baseline: 50 * MiB, growthBytes: 32 * MiB };
    expect(idleGcDue({ ...base, idleChecks: IDLE_CHECKS, committed: 120 * MiB })).toBe(true);
    expect(idleGcDue({ ...base, idleChecks: IDLE_CHECKS - 1, committed: 120 * MiB })).toBe(false); // only just idle, or busy: V8 collects as it allocates
    expect(idleGcDue({ ...base, idleChecks: IDLE_CHECKS, committed: 70 * MiB })).toBe(false); // grown less than the threshold
    expect(idleGcDue({ ...base, growthBytes: 0, idleChecks: 100, committed: 500 * MiB })).toBe(false); // IDLE_GC_MIB=0: off
  });

  it("takes the engine's gc from a new context once per process (the first upload after start paid for a second one)", () => {
    expect(engineGc()).toBe(engineGc());
  });

  it("gets the engine's full collection without --expose-gc; it frees what nothing references and gives back the pages a few survivors are spread over", () => {
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
    const gc = fullGc();
    let burst: { i: number; s: string }[] | null = Array.from({ length: 2_000_000 }, (_, i) => ({ i, s: `row ${i}` }));
    gc(); // now in the old space
    const survivors = burst.filter((_, i) => i % 50 === 0);
    const holding = v8.getHeapStatistics();
    burst = null;
    gc();
    expect(used()).toBeLessThan(holding.used_heap_size - 60 * MiB);
    // Compacted: the committed heap shrinks with it, not only the used part.
    expect(v8.getHeapStatistics().total_heap_size).toBeLessThan(holding.total_heap_size - 60 * MiB);
    expect(survivors.length).toBe(40_000);
    // The flag is off again: contexts created later get no `gc`.
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
  });

  it("collects once per growth past the threshold while idle, then measures growth from the collected heap", async () => {
    let heap = 40 * MiB;
    let collections = 0;
    const idle = collectWhenIdle({ growthBytes: 32 * MiB, checkMs: 50, heap: { committed: () => heap, collect: () => { collections++; heap = 45 * MiB; } } });
    const settle = async (checks: number) => { for (let i = 0; i < checks; i++) await new Promise((r) => setTimeout(r, 50)); };
    try {
      heap = 60 * MiB; // grown 20 MiB: below the threshold
      await settle(6);
      expect(collections).toBe(0);
      heap = 160 * MiB; // a burst's garbage
      const deadline = Date.now() + 20_000;
      while (collections === 0 && Date.now() < deadline) await settle(1);
      expect(collections).toBe(1);
      heap = 70 * MiB; // 25 MiB above the collected 45 MiB: not again
      await settle(6);
      expect(collections).toBe(1);
    } finally {
      idle.stop();
    }
  });
});
