import { describe, expect, it } from "vitest";
import { DEFAULT_POOL, SessionPool, type Poolable } from "./session-pool.ts";
import type { PoolWait } from "./pool-wait.ts";

class Fake implements Poolable {
  static opened = 0;
  readonly id = ++Fake.opened;
  healthy = true;
  closed = false;
  async close() { this.closed = true; }
}

/** A pool of `max` fakes whose opens succeed unless `opens` holds a pending one to settle by hand. */
function pool(max: number) {
  const opens: { resolve: (c: Fake) => void; reject: (e: Error) => void }[] = [];
  let manual = false;
  const p = new SessionPool<Fake>(
    () => (manual ? new Promise<Fake>((resolve, reject) => opens.push({ resolve, reject })) : Promise.resolve(new Fake())),
    async () => undefined,
    { ...DEFAULT_POOL, max, maxIdle: max },
  );
  return { p, opens, manual: (on: boolean) => { manual = on; } };
}

const aborted = () => new Error("aborted while waiting");
const waitFor = (signal?: AbortSignal, boundMs?: number): PoolWait => ({ signal, boundMs, aborted, busy: () => new Error("all busy") });
const settled = () => new Promise((r) => setTimeout(r, 0));

describe("SessionPool waiting", () => {
  it("an aborted waiter leaves the queue; the next release goes to the next waiter; the count stays right", async () => {
    const { p } = pool(1);
    const a = await p.acquire(waitFor(new AbortController().signal));
    const leaving = new AbortController();
    const b = p.acquire(waitFor(leaving.signal)).then(() => "served", (e: Error) => e.message);
    const c = p.acquire(waitFor(new AbortController().signal));
    await settled();
    expect(p.waitingCount).toBe(2);
    leaving.abort();
    expect(await b).toBe("aborted while waiting");
    expect(p.waitingCount).toBe(1);
    a.release(true);
    const lease = await c;
    expect(lease.client).toBe(a.client);
    expect([p.size, p.busyCount, p.waitingCount]).toEqual([1, 1, 0]);
    lease.release(true);
    expect([p.size, p.busyCount]).toEqual([1, 0]);
    await p.close();
  });

  it("a waiter whose signal fired before it asked is refused at once and never queued", async () => {
    const { p } = pool(1);
    const a = await p.acquire(waitFor(new AbortController().signal));
    const gone = new AbortController();
    gone.abort();
    await expect(p.acquire(waitFor(gone.signal))).rejects.toThrow("aborted while waiting");
    expect(p.waitingCount).toBe(0);
    a.release(true);
    expect([p.size, p.busyCount]).toEqual([1, 0]);
    await p.close();
  });

  it("a connection opened for a waiter that left meanwhile goes back to the pool, not lost", async () => {
    const { p, opens, manual } = pool(1);
    const a = await p.acquire(waitFor(new AbortController().signal));
    const leaving = new AbortController();
    const b = p.acquire(waitFor(leaving.signal)).then(() => "served", (e: Error) => e.message);
    await settled();
    manual(true);
    // Not reusable: a replacement is opened for the waiter, which leaves before it arrives.
    a.release(false);
    expect(a.client.closed).toBe(true);
    leaving.abort();
    expect(await b).toBe("aborted while waiting");
    const late = new Fake();
    opens.shift()!.resolve(late);
    await settled();
    expect([p.size, p.busyCount, p.waitingCount]).toEqual([1, 0, 0]);
    const again = await p.acquire(waitFor(new AbortController().signal));
    expect(again.client).toBe(late);
    again.release(true);
    await p.close();
  });

  it("without a signal the wait is bounded: busy() after boundMs, and the waiter leaves the queue", async () => {
    const { p } = pool(1);
    const a = await p.acquire(waitFor(new AbortController().signal));
    await expect(p.acquire(waitFor(undefined, 20))).rejects.toThrow("all busy");
    expect(p.waitingCount).toBe(0);
    a.release(true);
    expect([p.size, p.busyCount]).toEqual([1, 0]);
    await p.close();
  });

  it("an open that fails while others wait lets the next waiter open instead of waiting for a release that never comes", async () => {
    const { p, opens, manual } = pool(1);
    manual(true);
    const a = p.acquire(waitFor(new AbortController().signal)).then(() => "served", (e: Error) => e.message);
    const b = p.acquire(waitFor(new AbortController().signal));
    await settled();
    expect(p.waitingCount).toBe(1);
    opens.shift()!.reject(new Error("refused"));
    expect(await a).toBe("refused");
    await settled();
    const fresh = new Fake();
    opens.shift()!.resolve(fresh);
    const lease = await b;
    expect(lease.client).toBe(fresh);
    expect([p.size, p.busyCount, p.waitingCount]).toEqual([1, 1, 0]);
    lease.release(true);
    await p.close();
  });
});
