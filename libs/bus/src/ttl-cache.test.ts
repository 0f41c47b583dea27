import { describe, expect, it } from "vitest";
import { TtlCache } from "./ttl-cache.ts";

describe("TtlCache", () => {
  it("expires entries, evicts the oldest and shares concurrent loads", async () => {
    const c = new TtlCache<number>(30, 2);
    c.set("a", 1);
    c.set("b", 2);
    c.set("c", 3);
    expect(c.get("a")).toBeUndefined();
    expect(c.get("c")).toBe(3);
    await new Promise((r) => setTimeout(r, 40));
    expect(c.get("c")).toBeUndefined();
    let loads = 0;
    const load = async () => { loads++; await new Promise((r) => setTimeout(r, 5)); return 7; };
    expect(await Promise.all([c.getOrLoad("x", load), c.getOrLoad("x", load)])).toEqual([7, 7]);
    expect(loads).toBe(1);
    await expect(c.getOrLoad("y", async () => { throw new Error("no"); })).rejects.toThrow("no");
    expect(c.get("y")).toBeUndefined();
    c.deleteWhere((k) => k === "x");
    expect(c.get("x")).toBeUndefined();
  });
});
