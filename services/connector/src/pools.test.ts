import { describe, expect, it } from "vitest";
import type { Connection } from "./drivers/types.ts";
import { PoolRegistry } from "./pools.ts";

/** A stand-in pool that only records whether it was closed (the registry never touches the database). */
const fakeConn = () => {
  const c = { closed: 0 } as Connection & { closed: number };
  c.close = async () => void c.closed++;
  return c;
};
const tick = () => new Promise((r) => setTimeout(r, 0));

describe("PoolRegistry", () => {
  it("shares one pool per source and version, and retires the old version", async () => {
    const reg = new PoolRegistry({ maxPools: 10 });
    const a = fakeConn();
    const l1 = await reg.lease("s1", "v1", async () => a);
    const l2 = await reg.lease("s1", "v1", async () => fakeConn());
    expect(l2.conn).toBe(a);
    const b = fakeConn();
    await reg.lease("s1", "v2", async () => b);
    expect(reg.keys()).toEqual(["s1@v2"]);
    l1.release();
    await tick();
    expect(a.closed).toBe(0); // still leased by l2
    l2.release();
    l2.release(); // idempotent
    await tick();
    expect(a.closed).toBe(1);
    await reg.closeAll();
    expect(b.closed).toBe(1);
  });

  it("evicts the least recently used idle pool beyond maxPools", async () => {
    const reg = new PoolRegistry({ maxPools: 2 });
    const conns = [fakeConn(), fakeConn(), fakeConn()];
    (await reg.lease("a", "1", async () => conns[0]!)).release();
    (await reg.lease("b", "1", async () => conns[1]!)).release();
    (await reg.lease("a", "1", async () => fakeConn())).release(); // a is now more recent than b
    const held = await reg.lease("c", "1", async () => conns[2]!);
    await tick();
    expect(reg.keys().sort()).toEqual(["a@1", "c@1"]);
    expect(conns[1]!.closed).toBe(1);
    held.release();
    await reg.closeAll();
  });

  it("closes idle pools and pools of deleted sources, and forgets pools that failed to open", async () => {
    const reg = new PoolRegistry({ maxPools: 5, idleMs: 1000 });
    const a = fakeConn();
    const b = fakeConn();
    (await reg.lease("a", "1", async () => a)).release();
    const lb = await reg.lease("b", "1", async () => b);
    await reg.sweep(Date.now() + 5000);
    expect(a.closed).toBe(1);
    expect(b.closed).toBe(0); // leased: not idle
    await reg.closeSource("b");
    expect(b.closed).toBe(0);
    lb.release();
    await tick();
    expect(b.closed).toBe(1);
    await expect(reg.lease("x", "1", async () => { throw new Error("down"); })).rejects.toThrow("down");
    await tick();
    expect(reg.size).toBe(0);
    await reg.closeAll();
  });
});
