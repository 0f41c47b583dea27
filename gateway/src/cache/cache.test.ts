import { createHash } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { uniqueId } from "@dsb/runtime/testing";
import { cacheKey, canonicalJson, createQueryCache, MemoryCacheStore, requestCacheKey, type CacheKeyParts, type QueryResultRows } from "./index.ts";
import { deepFreeze } from "../memo.ts";
import { KvCacheStore } from "./kv-store.ts";
import { TieredCacheStore } from "./tiered-store.ts";

const NATS = process.env.TEST_NATS_URL ?? "nats://127.0.0.1:4222";
const base: CacheKeyParts = { tenant: "acme", sourceId: "src1", version: "v1", sql: "select 1", params: [1], limit: 1000, read_only: true };
const rows = (n: number): QueryResultRows => ({ columns: [{ name: "n", type: "int4" }], rows: Array.from({ length: n }, (_, i) => [i]), truncated: false, execution_time_ms: 3 });

describe("cache keys", () => {
  it("canonical JSON ignores key order and undefined fields", () => {
    expect(canonicalJson({ b: 1, a: [{ y: 2, x: undefined, w: null }] })).toBe(canonicalJson({ a: [{ w: null, y: 2 }], b: 1 }));
  });

  it("canonical JSON is the text it always was (keys already stored in a shared bucket stay valid)", () => {
    // The first implementation, kept here as the reference.
    const reference = (value: unknown): string => {
      if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
      if (Array.isArray(value)) return `[${value.map(reference).join(",")}]`;
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${reference(obj[k])}`).join(",")}}`;
    };
    const values: unknown[] = [null, 0, -1.5, "a\"b\u0000ü😀", true, [], {}, [undefined, null, [1, [2]]], { z: { y: [{ b: 1, a: "x" }] }, "": 1, é: 2, A: 3 },
      { v: 1, tenant: "t", source: "s", version: null, sql: "select $1", params: [1, "two", { three: 3 }], limit: 1000, read_only: true, pipeline: undefined }];
    for (const v of values) expect(canonicalJson(v)).toBe(reference(v));
  });

  it("every part of the key changes it; the prefix holds tenant and source", async () => {
    const k = await cacheKey(base);
    const variants: Partial<CacheKeyParts>[] = [
      { tenant: "other" }, { sourceId: "src2" }, { version: "v2" }, { sql: "select 1 " }, { params: ["1"] }, { params: undefined },
      { limit: 999 }, { read_only: false }, { sql: undefined, query_config: { table: "t" } }, { query_config: { table: "u" }, sql: undefined },
      { sql: undefined, collection: "a", pipeline: [{ $match: {} }] }, { sql: undefined, collection: "a", pipeline: [{ $match: { x: 1 } }] },
      { sql: undefined, collection: "b", pipeline: [{ $match: {} }] },
    ];
    const keys = await Promise.all(variants.map((v) => cacheKey({ ...base, ...v })));
    expect(new Set([k, ...keys]).size).toBe(variants.length + 1);
    expect(await cacheKey({ ...base })).toBe(k);
    expect(k).toMatch(/^t_[A-Za-z0-9_-]+\.s_[A-Za-z0-9_-]+\.[0-9a-f]{64}$/);
  });

  it("the digest is the SHA-256 of the canonical text (the same keys as before it was computed in JavaScript)", () => {
    for (const parts of [base, { ...base, sql: "x".repeat(5000), params: ["é", { a: [1, null] }] }]) {
      const text = canonicalJson({ v: 1, tenant: parts.tenant, source: parts.sourceId, version: parts.version, sql: parts.sql, params: parts.params, limit: parts.limit, read_only: parts.read_only });
      expect(cacheKey(parts).split(".").pop()).toBe(createHash("sha256").update(text).digest("hex"));
    }
  });

  it("memoised keys stay right: repeated, past the memo's bound, and for long texts", () => {
    const digest = (parts: CacheKeyParts) => createHash("sha256").update(canonicalJson({
      v: 1, tenant: parts.tenant, source: parts.sourceId, version: parts.version, sql: parts.sql, params: parts.params, limit: parts.limit, read_only: parts.read_only,
    })).digest("hex");
    const many = Array.from({ length: 1200 }, (_, i): CacheKeyParts => ({ ...base, tenant: `t${i % 7}`, sql: `select ${i}` }));
    for (let pass = 0; pass < 2; pass++) {
      for (const parts of many) expect(cacheKey(parts).split(".").pop()).toBe(digest(parts));
    }
    expect(cacheKey({ ...base, tenant: "t1" }).split(".").slice(0, 2)).not.toEqual(cacheKey({ ...base, tenant: "t2" }).split(".").slice(0, 2));
  });

  it("a request's key is cacheKey's, remembered per frozen body only for the same tenant, source, version, limit and read_only", () => {
    const outer = { tenant: "acme", sourceId: "src1", version: "v1", limit: 1000, read_only: true };
    const body = deepFreeze({ sql: "select 1", params: [1, { a: [2] }] });
    const expected = (o: typeof outer) => cacheKey({ ...o, sql: body.sql, params: body.params });
    const variants = [outer, { ...outer, tenant: "globex" }, { ...outer, sourceId: "src2" }, { ...outer, version: "v2" }, { ...outer, version: null },
      { ...outer, limit: 999 }, { ...outer, read_only: false }];
    for (let pass = 0; pass < 2; pass++) for (const o of variants) expect(requestCacheKey(body, o as typeof outer)).toBe(expected(o as typeof outer));
    expect(new Set(variants.map((o) => requestCacheKey(body, o as typeof outer))).size).toBe(variants.length);
    // A body that is not frozen may change between calls: its key is made afresh.
    const open: { sql: string } = { sql: "select 1" };
    const before = requestCacheKey(open, outer);
    open.sql = "select 2";
    expect(requestCacheKey(open, outer)).not.toBe(before);
    expect(requestCacheKey(open, outer)).toBe(cacheKey({ ...outer, sql: "select 2" }));
  });

  it("tenant and source ids that look alike never share a prefix", async () => {
    const a = await cacheKey({ ...base, tenant: "a.b", sourceId: "c" });
    const b = await cacheKey({ ...base, tenant: "a", sourceId: "b.c" });
    expect(a.split(".").slice(0, 2)).not.toEqual(b.split(".").slice(0, 2));
  });
});

describe("memory store", () => {
  it("is bounded in bytes and evicts the least recently used", async () => {
    const s = new MemoryCacheStore(2_000);
    const v = new Uint8Array(600);
    await s.set("p.a", v, Date.now() + 60_000);
    await s.set("p.b", v, Date.now() + 60_000);
    await s.get("p.a");
    await s.set("p.c", v, Date.now() + 60_000);
    expect(await s.get("p.b")).toBeNull();
    expect(await s.get("p.a")).not.toBeNull();
    expect((await s.size()).bytes).toBeLessThanOrEqual(2_000);
    await s.set("p.big", new Uint8Array(5_000), Date.now() + 60_000);
    expect(await s.get("p.big")).toBeNull();
  });

  it("peek answers what get does, without waiting: the value, or null (none, or expired)", async () => {
    const s = new MemoryCacheStore(1_000_000);
    await s.set("p.a", new Uint8Array([7]), Date.now() + 60_000);
    await s.set("p.old", new Uint8Array([8]), Date.now() - 1);
    expect([...s.peek("p.a")!]).toEqual([7]);
    expect(s.peek("p.old")).toBeNull();
    expect(s.peek("p.none")).toBeNull();
    expect((await s.size()).entries).toBe(1);
  });

  it("expires entries and drops by prefix", async () => {
    const s = new MemoryCacheStore(1_000_000);
    await s.set("t_a.s_1.x", new Uint8Array(1), Date.now() - 1);
    expect(await s.get("t_a.s_1.x")).toBeNull();
    await s.set("t_a.s_1.y", new Uint8Array(1), Date.now() + 60_000);
    await s.set("t_a.s_10.y", new Uint8Array(1), Date.now() + 60_000);
    await s.dropPrefix("t_a.s_1");
    expect(await s.get("t_a.s_1.y")).toBeNull();
    expect(await s.get("t_a.s_10.y")).not.toBeNull();
  });
});

describe("tiered store (local copy in front of the shared bucket)", () => {
  it("answers repeated hits locally for at most its copy time, and drops both tiers", async () => {
    const shared = new MemoryCacheStore(1 << 20);
    const a = new TieredCacheStore(shared, 1 << 16, 60_000);
    const b = new TieredCacheStore(shared, 1 << 16, 0);
    await a.set("t_a.s_1.k", new Uint8Array([1]), Date.now() + 60_000);
    expect([...(await b.get("t_a.s_1.k"))!]).toEqual([1]);
    // Another replica refreshes the entry: a copy of 0 ms sees it at once, a long one keeps its copy.
    await shared.set("t_a.s_1.k", new Uint8Array([2]), Date.now() + 60_000);
    expect([...(await b.get("t_a.s_1.k"))!]).toEqual([2]);
    expect([...(await a.get("t_a.s_1.k"))!]).toEqual([1]);
    await a.dropPrefix("t_a.s_1");
    expect(await a.get("t_a.s_1.k")).toBeNull();
    expect(await shared.get("t_a.s_1.k")).toBeNull();
  });

  it("peeks at the local copy only: without one it says to ask the bucket (undefined), and a query cache then reads the bucket", async () => {
    const shared = new MemoryCacheStore(1 << 20);
    const tiered = new TieredCacheStore(shared, 1 << 16, 60_000);
    const cache = createQueryCache({ store: tiered, maxEntryBytes: 1 << 20 });
    const key = cacheKey({ ...base, sql: "select tiered" });
    // Stored by another replica: in the bucket, not in this replica's copy.
    await createQueryCache({ store: shared, maxEntryBytes: 1 << 20 }).run(key, "use", 60, async () => rows(3));
    expect(tiered.peek(key)).toBeUndefined();
    let runs = 0;
    const hit = await cache.run(key, "use", 60, async () => { runs++; return rows(9); });
    expect(hit.fromOthers).toBe(true);
    expect(hit.result.rows).toEqual(rows(3).rows);
    expect(tiered.peek(key)).toBeDefined();
    expect((await cache.run(key, "use", 60, async () => { runs++; return rows(9); })).result).toBe(hit.result);
    expect(runs).toBe(0);
  });
});

describe("query cache", () => {
  it("identical queries arriving together run once; failures are not stored", async () => {
    const results: string[] = [];
    const cache = createQueryCache({ store: new MemoryCacheStore(1 << 20), maxEntryBytes: 1 << 20, onResult: (r) => results.push(r) });
    const key = await cacheKey(base);
    let runs = 0;
    const run = async () => { runs++; await new Promise((r) => setTimeout(r, 50)); return rows(3); };
    const all = await Promise.all(Array.from({ length: 10 }, () => cache.run(key, "use", 60, run)));
    expect(runs).toBe(1);
    expect(all.filter((o) => !o.fromOthers)).toHaveLength(1);
    expect(all.every((o) => o.result.rows.length === 3)).toBe(true);
    expect((await cache.run(key, "use", 60, run)).cachedAt).toMatch(/^\d{4}-/);
    expect(runs).toBe(1);
    expect(results).toEqual(["miss", ...Array(9).fill("shared"), "hit"]);

    const k2 = await cacheKey({ ...base, sql: "select 2" });
    await expect(cache.run(k2, "use", 60, async () => { throw Object.assign(new Error("boom"), { code: "QUERY_FAILED" }); })).rejects.toThrow("boom");
    expect((await cache.run(k2, "use", 60, async () => rows(1))).fromOthers).toBe(false);
  });

  it("a hit parsed once is reused until the entry changes: a refresh answers its new rows and time", async () => {
    const cache = createQueryCache({ store: new MemoryCacheStore(1 << 20), maxEntryBytes: 1 << 20 });
    const key = cacheKey({ ...base, sql: "select parsed" });
    await cache.run(key, "use", 60, async () => rows(2));
    const first = await cache.run(key, "use", 60, async () => rows(9));
    const again = await cache.run(key, "use", 60, async () => rows(9));
    expect(first.result.rows).toEqual(rows(2).rows);
    expect(again.result).toBe(first.result);
    await new Promise((r) => setTimeout(r, 5));
    await cache.run(key, "refresh", 60, async () => rows(4));
    const after = await cache.run(key, "use", 60, async () => rows(9));
    expect(after.fromOthers).toBe(true);
    expect(after.result.rows).toEqual(rows(4).rows);
    expect(after.cachedAt).not.toBe(first.cachedAt);
  });

  it("bypass neither reads nor writes, refresh runs and writes, ttl 0 is off, big results are skipped", async () => {
    const cache = createQueryCache({ store: new MemoryCacheStore(1 << 22), maxEntryBytes: 2_000 });
    const key = await cacheKey(base);
    let runs = 0;
    const run = async () => { runs++; return rows(2); };
    await cache.run(key, "use", 0, run);
    await cache.run(key, "use", 0, run);
    expect(runs).toBe(2);
    await cache.run(key, "bypass", 60, run);
    expect((await cache.run(key, "use", 60, run)).fromOthers).toBe(false);
    expect((await cache.run(key, "use", 60, run)).fromOthers).toBe(true);
    expect((await cache.run(key, "bypass", 60, run)).fromOthers).toBe(false);
    expect((await cache.run(key, "refresh", 60, run)).fromOthers).toBe(false);
    expect(runs).toBe(6);
    const big = await cacheKey({ ...base, sql: "big" });
    await cache.run(big, "use", 60, async () => rows(1000));
    expect((await cache.run(big, "use", 60, async () => rows(1000))).fromOthers).toBe(false);
  });
});

describe("JetStream KV store (two gateway replicas)", () => {
  const conns: NatsConnection[] = [];
  const bucket = uniqueId("cache");
  afterAll(async () => {
    await (await import("@nats-io/jetstream")).jetstreamManager(conns[0]!).then((m) => m.streams.delete(`KV_${bucket}`)).catch(() => undefined);
    for (const c of conns) await c.close();
  });

  it("shares entries, expires them, gzips large values, drops one source's entries only", async () => {
    for (let i = 0; i < 2; i++) conns.push(await connect({ servers: NATS }));
    const [a, b] = await Promise.all(conns.map((nc) => KvCacheStore.open(nc, { bucket, maxBytes: 64 << 20 })));
    const ca = createQueryCache({ store: a!, maxEntryBytes: 4 << 20 });
    const cb = createQueryCache({ store: b!, maxEntryBytes: 4 << 20 });
    const k1 = await cacheKey(base);
    const k2 = await cacheKey({ ...base, sourceId: "src2" });
    const kOther = await cacheKey({ ...base, tenant: "globex" });
    let runs = 0;
    const run = async () => { runs++; return rows(5); };
    await ca.run(k1, "use", 60, run);
    await ca.run(k2, "use", 60, run);
    const hit = await cb.run(k1, "use", 60, run);
    expect(hit.fromOthers).toBe(true);
    expect(hit.result.rows).toEqual(rows(5).rows);
    expect((await cb.run(kOther, "use", 60, run)).fromOthers).toBe(false);
    expect(runs).toBe(3);

    // Larger than max_payload (1 MiB): stored gzipped, read back whole on the other replica.
    const wide: QueryResultRows = { ...rows(0), rows: Array.from({ length: 40_000 }, (_, i) => [i, "x".repeat(40)]) };
    const kWide = await cacheKey({ ...base, sql: "wide" });
    await ca.run(kWide, "use", 60, async () => wide);
    expect((await cb.run(kWide, "use", 60, async () => rows(0))).result.rows).toHaveLength(40_000);

    await cb.dropSource("acme", "src1");
    expect((await ca.run(k1, "use", 60, run)).fromOthers).toBe(false);
    expect((await ca.run(k2, "use", 60, run)).fromOthers).toBe(true);
    expect((await cb.run(kOther, "use", 60, run)).fromOthers).toBe(true);

    await a!.set("t_x.s_y.z", new Uint8Array([1]), Date.now() - 1);
    expect(await b!.get("t_x.s_y.z")).toBeNull();
  });
});
