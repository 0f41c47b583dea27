/**
 * Query result cache, analytics, metrics and access/query log lines, end to end through the
 * gateway against a real PostgreSQL source, in both modes. Distributed mode also runs a second
 * gateway replica on the same NATS: it answers from the first one's entries, and a PATCH or
 * DELETE through one replica drops the entries for both (the JetStream KV bucket is shared).
 * A result served from the cache is told apart from a fresh one by the data: rows changed in
 * the database after the first read only show up when the query really ran.
 */
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Kvm } from "@nats-io/kv";
import { connectBus, createLogger, natsConnectionOf } from "@dsb/runtime";
import { skipped } from "@dsb/runtime/testing";
import { openBlobStore } from "@dsb/storage";
import { startGateway, type GatewayHandle } from "../../gateway/src/node.ts";
import { cacheBucket } from "../../gateway/src/cache/kv-store.ts";
import { sourcePrefix } from "../../gateway/src/cache/key.ts";
import { startTestSystem, type RunningSystem } from "../support/system.ts";
import { createPgSource } from "../support/peers.ts";
import type { Bus } from "@dsb/bus";

const MODES = (process.env.TEST_NATS_URL ? ["embedded", "distributed"] : ["embedded"]) as ("embedded" | "distributed")[];
if (MODES.length === 1) skipped("query cache, distributed mode (two gateway replicas)", "TEST_NATS_URL is not set");

const SECRET_PARAM = "param-value-never-logged-7f3a";
const SECRET_QS = "qs-value-never-logged-91bc";

describe.each(MODES)("query cache, analytics, metrics and logs (%s)", (mode) => {
  let sys: RunningSystem;
  let src: Awaited<ReturnType<typeof createPgSource>>;
  const logLines: string[] = [];
  const logTo = new Writable({ write(chunk, _enc, done) { logLines.push(...String(chunk).split("\n").filter(Boolean)); done(); } });
  const connect = async (name: string, as?: { tenant?: string }) => {
    const res = await sys.api("/api/data/database/connect", { method: "POST", as, json: { type: "postgresql", host: "127.0.0.1", database: src.database, username: "postgres", password: "x", name, allow_writes: true } });
    expect(res.status).toBe(201);
    return (await res.json()).data_source.id as string;
  };
  const query = async (id: string, body: Record<string, unknown>, opts: { as?: { tenant?: string }; url?: string; qs?: string } = {}) => {
    const res = opts.url
      ? await fetch(`${opts.url}/api/data/sources/${id}/query${opts.qs ?? ""}`, { method: "POST", headers: { authorization: `Bearer ${await sys.token(opts.as)}`, "content-type": "application/json" }, body: JSON.stringify(body) })
      : await sys.api(`/api/data/sources/${id}/query${opts.qs ?? ""}`, { method: "POST", as: opts.as, json: body });
    return { status: res.status, body: await res.json() };
  };
  const setName = (id: number, name: string) => src.exec(`update items set name = '${name}' where id = ${id}`);
  const nameOf = (r: { body: { rows: unknown[][] } }) => r.body.rows[0]![1];
  const ITEM1 = { sql: "select id, name from items where id = $1", params: [1] };

  beforeAll(async () => {
    src = await createPgSource(["create table items (id int primary key, name text)", "insert into items select i, 'n' || i from generate_series(1, 2000) i"]);
    // The TTL of last resort on; QUERY_CACHE_MAX_BYTES small enough that 2,000 rows never fit.
    sys = await startTestSystem({ mode, logTo, env: { QUERY_CACHE_TTL_S: "60", QUERY_CACHE_MAX_BYTES: "20000", LOG_LEVEL: "info" } });
  });
  afterAll(async () => {
    await sys?.stop();
    await src?.drop();
  });

  it("TTL from QUERY_CACHE_TTL_S, the source and the request; cache use, bypass and refresh; cached_at", async () => {
    const id = await connect("cache-ttl");
    await setName(1, "first");
    const a = await query(id, ITEM1);
    expect(a.status).toBe(200);
    expect(a.body.cached).toBe(false);
    await setName(1, "second");
    const b = await query(id, ITEM1);
    expect(b.body).toMatchObject({ cached: true, rows: [[1, "first"]], row_count: 1 });
    expect(Date.parse(b.body.cached_at)).not.toBeNaN();
    expect(b.body.query_id).not.toBe(a.body.query_id);
    // bypass: neither read nor written.
    expect(nameOf(await query(id, { ...ITEM1, cache: "bypass" }))).toBe("second");
    expect(nameOf(await query(id, ITEM1))).toBe("first");
    // refresh: runs and stores.
    const r = await query(id, { ...ITEM1, cache: "refresh" });
    expect(r.body).toMatchObject({ cached: false, rows: [[1, "second"]] });
    await setName(1, "third");
    expect(nameOf(await query(id, ITEM1))).toBe("second");
    // The request's TTL 0 turns it off; so does the source's (PATCH), which also drops its entries.
    expect(nameOf(await query(id, { ...ITEM1, cache_ttl_seconds: 0 }))).toBe("third");
    expect((await sys.api(`/api/data/sources/${id}`, { method: "PATCH", json: { cache_ttl_seconds: 0 } })).status).toBe(200);
    await setName(1, "fourth");
    expect((await query(id, ITEM1)).body).toMatchObject({ cached: false, rows: [[1, "fourth"]] });
    await setName(1, "fifth");
    expect(nameOf(await query(id, ITEM1))).toBe("fifth");
    // The request's TTL wins over the source's 0.
    await query(id, { ...ITEM1, cache_ttl_seconds: 30 });
    await setName(1, "sixth");
    expect((await query(id, { ...ITEM1, cache_ttl_seconds: 30 })).body).toMatchObject({ cached: true, rows: [[1, "fifth"]] });
  });

  it("the key holds params, limit, read_only and the exact text; failures, exports, writes and large results are never cached", async () => {
    const id = await connect("cache-never");
    await setName(2, "a");
    await query(id, { sql: "select id, name from items where id = $1", params: [2] });
    await setName(2, "b");
    expect(nameOf(await query(id, { sql: "select id, name from items where id = $1", params: [2] }))).toBe("a");
    expect(nameOf(await query(id, { sql: "select id, name from items where id = $1", params: [2], limit: 5 }))).toBe("b");
    expect(nameOf(await query(id, { sql: "select id, name from items where id  = $1", params: [2] }))).toBe("b");
    expect(nameOf(await query(id, { sql: "select id, name from items where id = $1", params: ["2"] }))).toBe("b");
    expect(nameOf(await query(id, { sql: "select id, name from items where id = $1", params: [2], read_only: false }))).toBe("b");
    expect((await query(id, { sql: "select id, name from items where id = $1", params: [2], read_only: false })).body.cached).toBe(false);
    // A failure twice reaches the database twice (two error entries in the history).
    const bad = { sql: "select no_such_column from items" };
    expect((await query(id, bad)).status).toBe(422);
    expect((await query(id, bad)).status).toBe(422);
    // An export reads the database, not the cache.
    const csv = await sys.api(`/api/data/sources/${id}/query?format=csv`, { method: "POST", json: { sql: "select id, name from items where id = $1", params: [2] } });
    expect(await csv.text()).toContain("2,b");
    // 2,000 rows are over QUERY_CACHE_MAX_BYTES (20,000 bytes of JSON): never stored.
    const all = { sql: "select id, name from items order by id", limit: 5000 };
    expect((await query(id, all)).body.row_count).toBe(2000);
    expect((await query(id, all)).body.cached).toBe(false);
    const history = await (await sys.api(`/api/data/sources/${id}/queries?limit=100`)).json();
    expect(history.queries.filter((q: { query: string; status: string }) => q.query === bad.sql && q.status === "error")).toHaveLength(2);
  });

  it("identical queries arriving together run once", async () => {
    const id = await connect("cache-flight");
    const q = { sql: "select pg_sleep(0.4)::text as slept, clock_timestamp()::text as at" };
    const answers = await Promise.all(Array.from({ length: 8 }, () => query(id, q)));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    // One execution: every answer carries the same clock_timestamp(); one ran it, the others shared it.
    expect(new Set(answers.map((a) => a.body.rows[0][1])).size).toBe(1);
    expect(answers.filter((a) => a.body.cached === false)).toHaveLength(1);
    const history = await (await sys.api(`/api/data/sources/${id}/queries`)).json();
    expect(history.queries).toHaveLength(8);
    expect(history.queries.filter((h: { cached: boolean }) => h.cached)).toHaveLength(7);
  });

  it("never crosses tenants or sources: same SQL on another source of the tenant, and the same shapes in another tenant, run on their own", async () => {
    const a = await connect("iso-a");
    const b = await connect("iso-b");
    const other = await connect("iso-other", { tenant: "t2" });
    await setName(3, "one");
    await query(a, { sql: "select id, name from items where id = 3" });
    await setName(3, "two");
    expect(nameOf(await query(a, { sql: "select id, name from items where id = 3" }))).toBe("one");
    expect((await query(b, { sql: "select id, name from items where id = 3" })).body).toMatchObject({ cached: false, rows: [[3, "two"]] });
    expect((await query(other, { sql: "select id, name from items where id = 3" }, { as: { tenant: "t2" } })).body).toMatchObject({ cached: false, rows: [[3, "two"]] });
    // Tenant t2 naming t1's source id: 404 before any cache lookup.
    expect((await query(a, { sql: "select id, name from items where id = 3" }, { as: { tenant: "t2" } })).status).toBe(404);
  });

  it("stats: totals, cache hits, percentiles, days, slowest and frequent, per source and per tenant", async () => {
    const id = await connect("stats");
    for (let i = 0; i < 3; i++) await query(id, { sql: "select count(*) from items" });
    await query(id, { sql: "select 1/0" });
    await query(id, { sql: "select id from items where id < 10", cache: "bypass" });
    const res = await sys.api(`/api/data/sources/${id}/stats`);
    expect(res.status).toBe(200);
    const { stats } = await res.json();
    expect(stats).toMatchObject({ queries: 5, errors: 1, cached: 2, rows: 3 + 9 });
    expect(stats.p50_ms).toBeGreaterThanOrEqual(0);
    expect(stats.p95_ms).toBeGreaterThanOrEqual(stats.p50_ms);
    expect(stats.max_ms).toBeGreaterThanOrEqual(stats.p95_ms);
    expect(stats.by_day).toEqual([expect.objectContaining({ day: new Date().toISOString().slice(0, 10), queries: 5, errors: 1 })]);
    expect(stats.slowest).toHaveLength(5);
    expect(stats.frequent[0]).toMatchObject({ query: "select count(*) from items", count: 3 });
    const future = await (await sys.api(`/api/data/sources/${id}/stats?since=${new Date(Date.now() + 86_400_000).toISOString()}`)).json();
    expect(future.stats).toMatchObject({ queries: 0, p50_ms: null, by_day: [], slowest: [], frequent: [] });
    expect((await sys.api(`/api/data/sources/${id}/stats?since=yesterday`)).status).toBe(400);
    expect((await sys.api(`/api/data/sources/${id}/stats`, { as: { tenant: "t2" } })).status).toBe(404);
    const all = await (await sys.api("/api/data/stats")).json();
    expect(all.sources.find((s: { id: string }) => s.id === id)).toMatchObject({ name: "stats", db_type: "postgresql", queries: 5, cached: 2 });
    const t2 = await (await sys.api("/api/data/stats", { as: { tenant: "t2" } })).json();
    expect(t2.sources.map((s: { id: string }) => s.id)).not.toContain(id);
  });

  it("/metrics has the ds_* series without ids; one access line and one query line per query, no parameter or query-string values", async () => {
    const id = await connect("observed");
    logLines.length = 0;
    await query(id, { sql: "select $1::text as p", params: [SECRET_PARAM] }, { qs: `?format=json&x=${SECRET_QS}` });
    await query(id, { sql: "select $1::text as p", params: [SECRET_PARAM] });
    expect((await query(id, { sql: "select broken" })).status).toBe(422);
    const lines = logLines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const text = logLines.join("\n");
    expect(text).not.toContain(SECRET_PARAM);
    expect(text).not.toContain(SECRET_QS);
    const access = lines.filter((l) => l.msg === "request" && l.route === "/api/data/sources/:id/query");
    expect(access).toHaveLength(3);
    expect(access[0]).toMatchObject({ method: "POST", status: 200, tenant: "t1", user: "u1", level: 30 });
    expect(typeof access[0]!.ms).toBe("number");
    expect(typeof access[0]!.requestId).toBe("string");
    expect(access[2]).toMatchObject({ status: 422, level: 30 });
    const queries = lines.filter((l) => l.msg === "query");
    expect(queries.map((q) => [q.db_type, q.status, q.cached, q.rows])).toEqual([["postgresql", "success", false, 1], ["postgresql", "success", true, 1], ["postgresql", "error", false, null]]);
    expect(queries[0]!.source_id).toBe(id);

    const metrics = await (await fetch(`${sys.url}/metrics`)).text();
    for (const series of ["ds_queries_total", "ds_query_duration_seconds_bucket", "ds_query_rows_total", "ds_pool_connections", "ds_pool_waiting", "ds_cache_requests_total", "ds_health_sources", "ds_uploads_total", "ds_upload_bytes_total", "ds_bus_requests_total", "http_requests_total"]) {
      expect(metrics, series).toContain(series);
    }
    expect(metrics).toMatch(/ds_queries_total\{db_type="postgresql",status="success"\} [1-9]/);
    expect(metrics).toMatch(/ds_cache_requests_total\{result="hit"\} [1-9]/);
    expect(metrics).toMatch(/ds_bus_requests_total\{subject="catalog\.source\.get",status="ok"\} [1-9]/);
    expect(metrics).toMatch(/ds_pool_connections\{db_type="postgresql",state="(active|idle)"\}/);
    expect(metrics).not.toContain(id);
    expect(metrics).not.toMatch(/tenant(_id)?=|user(_id)?=|source(_id)?=/);
  });

  it.runIf(mode === "distributed")("two gateway replicas share entries; a PATCH or DELETE through one drops them for both", async () => {
    const log = createLogger("gw2", "silent");
    const bus2: Bus = await connectBus(sys.env, "gw2", log);
    const store = await openBlobStore(sys.env, natsConnectionOf(bus2));
    const gw2: GatewayHandle = await startGateway({ env: { ...sys.env, PORT: 0 }, bus: bus2, log, store });
    const url2 = `http://127.0.0.1:${gw2.port}`;
    try {
      const id = await connect("replicas");
      const q = { sql: "select id, name from items where id = 4" };
      await setName(4, "v1");
      expect((await query(id, q)).body.cached).toBe(false);
      await setName(4, "v2");
      expect((await query(id, q, { url: url2 })).body).toMatchObject({ cached: true, rows: [[4, "v1"]] });
      // PATCH through replica 2 (config unchanged: only the drop makes the next read fresh) → replica 1 reads fresh.
      expect((await fetch(`${url2}/api/data/sources/${id}`, { method: "PATCH", headers: { authorization: `Bearer ${await sys.token()}`, "content-type": "application/json" }, body: JSON.stringify({ name: "replicas renamed" }) })).status).toBe(200);
      await waitForNoKeys(sys, "t1", id);
      expect((await query(id, q)).body).toMatchObject({ cached: false, rows: [[4, "v2"]] });
      expect((await query(id, q, { url: url2 })).body.cached).toBe(true);
      expect(await keysOf(sys, "t1", id)).toHaveLength(1);
      // DELETE through replica 1: the bucket holds nothing of the source any more.
      expect((await sys.api(`/api/data/sources/${id}`, { method: "DELETE" })).status).toBe(200);
      await waitForNoKeys(sys, "t1", id);
      expect((await query(id, q, { url: url2 })).status).toBe(404);
    } finally {
      await gw2.stop();
      await bus2.close();
    }
  });
});

describe.runIf(MODES.includes("distributed"))("single flight across gateway replicas (distributed)", () => {
  let sys: RunningSystem;
  let src: Awaited<ReturnType<typeof createPgSource>>;
  beforeAll(async () => {
    // Each run of counted_run() is counted where a read-only transaction cannot roll it back: a row
    // inserted over dblink (its own session), so the count is the database's own, not the gateway's.
    src = await createPgSource([
      "create extension if not exists dblink",
      "create table runs (at timestamptz default clock_timestamp())",
      `create function counted_run(s float8) returns text language plpgsql as $$
        begin
          perform dblink_exec(format('host=%s port=%s dbname=%s user=%s', host(inet_server_addr()), inet_server_port(), current_database(), current_user),
            'insert into runs default values');
          perform pg_sleep(s);
          return 'ran';
        end $$`,
    ]);
    sys = await startTestSystem({ mode: "distributed", env: { QUERY_CACHE_TTL_S: "60" } });
  });
  afterAll(async () => {
    await sys?.stop();
    await src?.drop();
  });

  it("identical queries arriving together at two gateway replicas run once on the database", async () => {
    const log = createLogger("gw2", "silent");
    const bus2: Bus = await connectBus(sys.env, "gw2", log);
    const store = await openBlobStore(sys.env, natsConnectionOf(bus2));
    const gw2: GatewayHandle = await startGateway({ env: { ...sys.env, PORT: 0 }, bus: bus2, log, store });
    try {
      const res = await sys.api("/api/data/database/connect", { method: "POST", json: { type: "postgresql", host: "127.0.0.1", database: src.database, username: "postgres", password: "x", name: "flight" } });
      const id = (await res.json()).data_source.id as string;
      const token = await sys.token();
      const ask = (url: string) => fetch(`${url}/api/data/sources/${id}/query`, {
        method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ sql: "select counted_run(1.5) as r" }),
      }).then(async (r) => ({ status: r.status, body: await r.json() }));
      const urls = [sys.url, `http://127.0.0.1:${gw2.port}`];
      const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => ask(urls[i % 2]!)));
      expect(answers.map((a) => a.status)).toEqual(Array(8).fill(200));
      expect((await src.exec("select count(*)::int as n from runs")).rows[0].n).toBe(1);
      expect(answers.filter((a) => a.body.cached === false)).toHaveLength(1);
      // The replica that did not run it answered from the other's entry.
      const ranOn = answers.findIndex((a) => a.body.cached === false) % 2;
      expect(answers.filter((_, i) => i % 2 !== ranOn).every((a) => a.body.cached === true)).toBe(true);
    } finally {
      await gw2.stop();
      await bus2.close();
    }
  });
});

/** The KV keys of one source in this system's cache bucket. */
async function keysOf(sys: RunningSystem, tenant: string, id: string): Promise<string[]> {
  const nc = natsConnectionOf(sys.system.bus)!;
  const kv = await new Kvm(nc as unknown as ConstructorParameters<typeof Kvm>[0]).open(cacheBucket(sys.env.BUS_NAMESPACE));
  const keys: string[] = [];
  for await (const k of await kv.keys(`${sourcePrefix(tenant, id)}.>`)) keys.push(k);
  return keys;
}

/** The drop runs on the catalog's event: bounded poll (not a timing assertion). */
async function waitForNoKeys(sys: RunningSystem, tenant: string, id: string): Promise<void> {
  const end = Date.now() + 5000;
  while (Date.now() < end) {
    if ((await keysOf(sys, tenant, id)).length === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("the source's cache entries were not dropped");
}
