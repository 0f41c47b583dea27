import { describe, expect, it, vi } from "vitest";
import type { Bus } from "@dsb/bus";
import { AppError, type Actor, type RequestOf } from "@dsb/contracts";
import { createQueryHistory, type HistoryDropReason, type QueryHistoryOptions } from "./history.ts";

type Batch = RequestOf<"catalog.history.record_batch">;
const actor: Actor = { tenant_id: "t1", user_id: "u1" };
const SOURCE = "src-1";

/**
 * A catalog behind a bus that fails as told: `fail(batch, attempt)` returns the error to throw, if
 * any, and whether the catalog recorded the batch first (a reply lost on the way back). Recording
 * ignores an id it already has, as the catalog's insert does.
 */
function fakeCatalog(fail: (batch: Batch, attempt: number) => { error: AppError; recordedFirst?: boolean } | null = () => null) {
  /** Every id in a batch the catalog wrote (an id sent again after a lost reply shows twice; its insert skips it). */
  const writes: string[] = [];
  const deliveries: number[] = [];
  let attempt = 0;
  const bus = {
    request: async (subject: string, req: Batch) => {
      expect(subject).toBe("catalog.history.record_batch");
      await new Promise((r) => setImmediate(r));
      deliveries.push(req.records.length);
      const f = fail(req, ++attempt);
      if (!f || f.recordedFirst) writes.push(...req.records.map((r) => r.entry.id!));
      if (f) throw f.error;
      return { ids: req.records.map((r) => r.entry.id!) };
    },
  } as unknown as Bus; // only `request` is used by the history writer
  return { bus, writes, deliveries, recorded: () => new Set(writes) };
}

function history(bus: Bus, opts: QueryHistoryOptions = {}) {
  const dropped: Record<string, number> = {};
  const warnings: { o: object; m: string }[] = [];
  const log = { info: () => undefined, warn: (o: object, m: string) => void warnings.push({ o, m }), error: () => undefined };
  const h = createQueryHistory(bus, log, {
    retryMinMs: 1, retryMaxMs: 20, dropLogMs: 20,
    onDropped: (n: number, reason: HistoryDropReason) => { dropped[reason] = (dropped[reason] ?? 0) + n; },
    ...opts,
  });
  const record = (n: number, sql = `select ${n}`) => h.record(actor, SOURCE, { sql }, { ok: true, count: n, ms: 1 }, `req-${n}`);
  return { h, record, dropped, warnings };
}

const until = async (check: () => boolean, what: string) => {
  for (let i = 0; i < 2000 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!check()) throw new Error(`never: ${what}`);
};
const unavailable = () => new AppError("UNAVAILABLE", "Message bus is unavailable; retry shortly", { retryable: true });

describe("query history writes", () => {
  it("entries recorded within the batch wait share one message; a history read waits for them", async () => {
    const cat = fakeCatalog();
    const { h, record } = history(cat.bus, { batchWaitMs: 100 });
    const ids = Array.from({ length: 150 }, (_, n) => record(n));
    // Spread over a few turns of the event loop, well within the wait.
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(cat.deliveries).toEqual([]);
    await h.settled(SOURCE);
    expect(cat.deliveries).toEqual([150]);
    expect(cat.writes).toEqual(ids);
    expect(h.pending()).toBe(0);
  });

  it("an outage of many failed attempts loses nothing, and a reply lost after the write records nothing twice", async () => {
    // Attempts 1–8 fail (the 3rd after the catalog wrote the batch, its reply lost); then all succeed.
    const cat = fakeCatalog((_b, attempt) => (attempt <= 8 ? { error: attempt === 3 ? new AppError("TIMEOUT", "no reply", { retryable: true }) : unavailable(), recordedFirst: attempt === 3 } : null));
    const { h, record, dropped } = history(cat.bus);
    const ids: string[] = [];
    for (let n = 0; n < 50; n++) {
      ids.push(record(n));
      if (n % 10 === 0) await new Promise((r) => setTimeout(r, 3));
    }
    await until(() => h.pending() === 0, "every entry recorded");
    expect([...cat.recorded()].sort()).toEqual([...ids].sort());
    // The batch whose reply was lost went again (the catalog's insert skips ids it has); nothing else twice.
    expect(cat.writes.length).toBe(ids.length + cat.deliveries[2]!);
    expect(cat.deliveries.length).toBeGreaterThan(8);
    expect(dropped).toEqual({});
  });

  it("a catalog away for over a minute, with entries made all along: all recorded after, at the default bounds and backoff", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    try {
      let down = true;
      const cat = fakeCatalog(() => (down ? { error: unavailable() } : null));
      const h = createQueryHistory(cat.bus, undefined);
      // Fake time for the writer's timers; the fake catalog answers on a real setImmediate.
      const pass = async (ms: number) => {
        for (let t = 0; t < ms; t += 100) {
          await vi.advanceTimersByTimeAsync(100);
          await new Promise((r) => setImmediate(r));
        }
      };
      const ids: string[] = [];
      for (let s = 0; s < 65; s++) {
        for (let i = 0; i < 20; i++) ids.push(h.record(actor, SOURCE, { sql: `select ${s}, ${i}` }, { ok: true, count: 1, ms: 1 }, `r${s}.${i}`));
        await pass(1000);
      }
      const attempts = cat.deliveries.length;
      // Backoff: 100 ms doubling to 5 s, not a retry storm.
      expect(attempts).toBeGreaterThan(10);
      expect(attempts).toBeLessThan(40);
      down = false;
      await pass(10_000);
      expect(h.pending()).toBe(0);
      expect([...cat.recorded()].sort()).toEqual(ids.sort());
    } finally {
      vi.useRealTimers();
    }
  });

  it("keeps at most maxQueued entries during an outage: the oldest are dropped, counted and logged once per burst", async () => {
    let down = true;
    const cat = fakeCatalog(() => (down ? { error: unavailable() } : null));
    const { h, record, dropped, warnings } = history(cat.bus, { maxQueued: 5 });
    const ids = Array.from({ length: 12 }, (_, n) => record(n));
    expect(dropped).toEqual({ queue_full: 7 });
    await until(() => warnings.some((w) => /dropped/.test(w.m)), "a drop log line");
    expect(warnings.filter((w) => /dropped/.test(w.m))).toEqual([{ o: { dropped: { queue_full: 7 }, queued: 5 }, m: expect.stringMatching(/dropped/) }]);
    // More failed attempts: the bound holds, nothing else is dropped.
    await until(() => cat.deliveries.length >= 5, "retries");
    expect(h.pending()).toBe(5);
    down = false;
    await until(() => h.pending() === 0, "the rest recorded");
    expect([...cat.recorded()].sort()).toEqual(ids.slice(7).sort());
    expect(dropped).toEqual({ queue_full: 7 });
  });

  it("also bounds the queued bytes", async () => {
    let down = true;
    const cat = fakeCatalog(() => (down ? { error: unavailable() } : null));
    const { h, record, dropped } = history(cat.bus, { maxQueuedBytes: 13_000 });
    for (let n = 0; n < 10; n++) record(n, `select '${"x".repeat(3000)}'`);
    expect(dropped.queue_full).toBe(7);
    expect(h.pending()).toBe(3);
    down = false;
    await until(() => h.pending() === 0, "the rest recorded");
    expect(cat.recorded().size).toBe(3);
  });

  it("a refusal that no retry can change drops the batch at once (counted), and the next entries still land", async () => {
    const cat = fakeCatalog((_b, attempt) => (attempt === 1 ? { error: new AppError("VALIDATION", "bad entry") } : null));
    const { h, record, dropped, warnings } = history(cat.bus);
    record(1);
    await until(() => h.pending() === 0, "the refused entry settled");
    await until(() => warnings.length > 0, "a drop log line");
    expect(warnings[0]!.o).toMatchObject({ dropped: { refused: 1 }, refused_with: ["VALIDATION"] });
    const id = record(2);
    await until(() => h.pending() === 0, "the next entry recorded");
    expect(dropped).toEqual({ refused: 1 });
    expect([...cat.recorded()]).toEqual([id]);
    expect(cat.deliveries).toEqual([1, 1]);
  });

  it("halves a batch the bus cannot carry; one entry that fits in no message is given up", async () => {
    const tooLarge = new AppError("PAYLOAD_TOO_LARGE", "too big");
    const cat = fakeCatalog((b) => (b.records.length > 2 || b.records.some((r) => r.entry.query === "huge") ? { error: tooLarge } : null));
    const { h, record, dropped } = history(cat.bus);
    const ids = Array.from({ length: 7 }, (_, n) => record(n));
    record(99, "huge");
    await until(() => h.pending() === 0, "all settled");
    expect([...cat.recorded()].sort()).toEqual(ids.sort());
    expect(dropped).toEqual({ too_large: 1 });
  });

  it("a history read waits for the entries of its source made before it (queued or on the bus), not for other sources' or later ones", async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => { release = r; });
    const cat = fakeCatalog();
    const request = cat.bus.request.bind(cat.bus);
    // The first batch stays on the bus until released; later ones go through.
    let first = true;
    (cat.bus as { request: unknown }).request = async (subject: string, req: Batch) => {
      if (first) { first = false; await held; }
      return request(subject as never, req as never);
    };
    const { h } = history(cat.bus, { batchWaitMs: 1, settleMaxMs: 60_000 });
    const mine = h.record(actor, SOURCE, { sql: "select 1" }, { ok: true, count: 1, ms: 1 }, "req-1");
    await until(() => !first, "the first batch on the bus");
    await h.settled("another-source");
    let settled = false;
    const read = h.settled(SOURCE).then(() => { settled = true; });
    const theirs = h.record(actor, "another-source", { sql: "select 2" }, { ok: true, count: 1, ms: 1 }, "req-2");
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(settled).toBe(false);
    release();
    await read;
    expect(cat.writes).toContain(mine);
    await until(() => h.pending() === 0, "the other source's entry");
    expect(cat.writes).toEqual([mine, theirs]);
  });

  it("a history read waits for this source's writes only briefly during an outage, and makes the next attempt at once when it comes back", async () => {
    let down = true;
    const cat = fakeCatalog(() => (down ? { error: unavailable() } : null));
    // Backoff far longer than the test: only the read's wake-up can make the retry.
    const { h, record } = history(cat.bus, { retryMinMs: 600_000, retryMaxMs: 600_000, settleMaxMs: 50 });
    const id = record(1);
    await until(() => cat.deliveries.length === 1, "the first attempt");
    await h.settled(SOURCE); // returns although the entry is not recorded
    expect(cat.recorded().size).toBe(0);
    down = false;
    await h.settled(SOURCE);
    expect([...cat.recorded()]).toEqual([id]);
  });
});
