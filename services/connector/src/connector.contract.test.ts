/**
 * The connector driven through the bus alone, with a stub catalog on the same
 * bus answering catalog.config.resolve / catalog.source.get (the real catalog
 * has its own contract tests), against the local PostgreSQL.
 */
import { createServer } from "node:net";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Bus } from "@dsb/bus";
import { AppError, distinctNames, ndjsonLines, replicaSubject, type QueryPage, type RequestOf, type SourceSchema } from "@dsb/contracts";
import { createLogger, parseEnv } from "@dsb/runtime";
import { testBus, uniqueId } from "@dsb/runtime/testing";
import { scratchDatabase, TEST_PG } from "../../../test/support/drivers/pg-scratch-db.ts";
import { startConnector } from "./index.ts";

const TENANT = "tenant-a";

const failure = async (p: Promise<unknown>): Promise<AppError> => {
  const e = await p.then(() => null, (x: unknown) => x);
  expect(e).toBeInstanceOf(AppError);
  return e as AppError;
};

describe("connector service over the bus", async () => {
  const db = await scratchDatabase("dsb_connector_svc_");
  if ("skip" in db) console.log(`SKIPPED connector contract: ${db.skip}`);
  describe.runIf(!("skip" in db))("with PostgreSQL", () => {
    const scratch = db as Exclude<typeof db, { skip: string }>;
    const replica = uniqueId("r");
    const config = { type: "postgresql", host: TEST_PG.host, port: TEST_PG.port, username: TEST_PG.user, password: TEST_PG.password ?? "not-used-pw", database: scratch.name, allow_writes: false };
    const sources = new Map<string, { config: Record<string, unknown>; version: string; schema: SourceSchema | null; tenant: string }>();
    let bus: Bus;
    let connector: { stop(): Promise<void> };
    let stopCatalog: () => Promise<void>;
    const srcId = uniqueId("src");
    const writableId = uniqueId("srcw");

    beforeAll(async () => {
      const c = new pg.Client({ ...TEST_PG, database: scratch.name });
      await c.connect();
      await c.query("create table items (id int primary key, region text, amount numeric(10,2)); insert into items select g, case when g % 2 = 0 then 'EU' else 'US' end, g * 1.5 from generate_series(1, 20) g");
      await c.end();
      bus = await testBus("connector-contract");
      const served = await bus.serve("catalog", {
        "catalog.config.resolve": async (req) => {
          const s = sources.get(req.id);
          if (!s || s.tenant !== req.tenant_id) throw new AppError("NOT_FOUND", "Data source not found");
          return { id: req.id, db_type: "postgresql", config: s.config, version: s.version };
        },
        "catalog.source.get": async (req) => {
          const s = sources.get(req.id);
          if (!s || s.tenant !== req.actor.tenant_id) throw new AppError("NOT_FOUND", "Data source not found");
          const now = new Date().toISOString();
          return { source: { id: req.id, name: "pg", type: "database" as const, format: null, db_type: "postgresql", schema: s.schema, connection_config: {}, file_path: null, user_id: "u", tenant_id: s.tenant, is_active: true, created_at: now, updated_at: now } };
        },
      }, { replicaId: replica });
      stopCatalog = () => served.stop();
      const env = parseEnv({ ALLOW_PRIVATE_HOSTS: "true", LOG_LEVEL: "silent" });
      connector = await startConnector({ env, bus, log: createLogger("connector", "silent"), replicaId: replica });
      sources.set(srcId, { config, version: "v1", schema: null, tenant: TENANT });
      sources.set(writableId, { config: { ...config, allow_writes: true }, version: "v1", schema: null, tenant: TENANT });
    });
    afterAll(async () => {
      await connector?.stop();
      await stopCatalog?.();
      await scratch.drop();
    });

    const query = (body: Record<string, unknown>) =>
      bus.request("connector.query", { tenant_id: TENANT, id: srcId, timeout_ms: 10_000, ...body } as never, { timeoutMs: 20_000 });
    const pull = (page: QueryPage, action: "next" | "close" = "next") =>
      bus.request("connector.cursor.*", { id: page.cursor!.id, action }, { subject: page.cursor!.subject });

    it("connector.test reports success with the server version", async () => {
      const r = await bus.request("connector.test", { config: config as never });
      expect(r.message).toBe("Connection successful");
      expect(r.server_version).toMatch(/^PostgreSQL 1\d/);
      expect(r.latency_ms).toBeGreaterThanOrEqual(0);
    });

    it("connector.test refuses 169.254.169.254 with ADDRESS_NOT_ALLOWED", async () => {
      const e = await failure(bus.request("connector.test", { config: { ...config, host: "169.254.169.254" } as never }));
      expect(e.code).toBe("ADDRESS_NOT_ALLOWED");
      expect(e.message).toContain("Connections to 169.254.169.254 are not allowed");
    });

    it("connector.test fails with CONNECTION_FAILED and no secret", async () => {
      const secret = "Sup3r-secret-pw";
      const e = await failure(bus.request("connector.test", { config: { ...config, username: "dsb_nobody", password: secret } as never }));
      expect(e.code).toBe("CONNECTION_FAILED");
      expect(e.message).toContain("dsb_nobody");
      expect(e.message).not.toContain(secret);
      const refused = await failure(bus.request("connector.test", { config: { ...config, port: 1 } as never }));
      expect(refused.message).toContain("Connection refused");
    });

    /** A reply with the schema (not the gzip_head form). */
    const introspect = async (req: RequestOf<"connector.introspect">) => {
      const r = await bus.request("connector.introspect", req);
      if (!("schema" in r)) throw new Error("gzip reply to a request without gzip_head");
      return r;
    };

    it("connector.introspect works for a config being connected and for a stored source", async () => {
      const a = await introspect({ tenant_id: TENANT, config: config as never });
      expect(a.schema.tables.find((t) => t.name === "items")?.columns.map((c) => c.name)).toEqual(["id", "region", "amount"]);
      const b = await introspect({ tenant_id: TENANT, id: srcId });
      expect(b.schema.schemas).toEqual(["public"]);
      sources.get(srcId)!.schema = b.schema;
      const missing = await failure(bus.request("connector.introspect", { tenant_id: "other-tenant", id: srcId }));
      expect(missing.code).toBe("NOT_FOUND");
    });

    it("connector.query returns a typed first page with columns, and caps at limit with truncated", async () => {
      const r = await query({ sql: "select id, amount from items where region = $1 order by id", params: ["EU"], limit: 100 });
      expect(r.columns).toEqual([{ name: "id", type: "int4" }, { name: "amount", type: "numeric" }]);
      expect(r.rows[0]).toEqual([2, "3.00"]);
      expect(r).toMatchObject({ done: true, truncated: false, row_count: 10 });
      expect(r.cursor).toBeUndefined();
      const capped = await query({ sql: "select id from items order by id", limit: 5 });
      expect(capped).toMatchObject({ done: true, truncated: true, row_count: 5 });
      const exact = await query({ sql: "select id from items", limit: 20 });
      expect(exact).toMatchObject({ done: true, truncated: false, row_count: 20 });
    });

    it("connector.query compiles query_config against the stored schema", async () => {
      sources.get(srcId)!.schema ??= (await introspect({ tenant_id: TENANT, id: srcId })).schema;
      const r = await query({
        query_config: { table: "public.items", select: ["region"], aggregates: [{ fn: "count", as: "n" }, { fn: "sum", column: "amount", as: "total" }], group_by: ["region"], order_by: [{ column: "region" }] },
        limit: 100,
      });
      expect(r.rows).toEqual([["EU", 10, "165.00"], ["US", 10, "150.00"]]);
      const bad = await failure(query({ query_config: { table: "public.items", select: ["nope"] }, limit: 10 }));
      expect(bad.code).toBe("VALIDATION");
      expect(bad.message).toBe("Unknown column nope in table public.items. Known columns: id, region, amount");
    });

    it("pages a 50,000-row stream through the replica's cursor subject", async () => {
      const first = await query({ sql: "select g as id, md5(g::text) as h, now() as t from generate_series(1, 50000) g", stream: true });
      expect(first.columns?.map((c) => c.name)).toEqual(["id", "h", "t"]);
      expect(first.done).toBe(false);
      expect(first.cursor?.subject).toBe(replicaSubject("connector.cursor.*", replica));
      let page: QueryPage = first;
      let total = first.rows.length;
      let pages = 1;
      let last = first.rows.at(-1)![0] as number;
      while (!page.done) {
        page = await pull(page);
        expect(page.columns).toBeUndefined();
        if (page.rows.length) expect(page.rows[0]![0]).toBe(last + 1);
        if (page.rows.length) last = page.rows.at(-1)![0] as number;
        total += page.rows.length;
        pages++;
      }
      expect(total).toBe(50000);
      expect(page.row_count).toBe(50000);
      expect(pages).toBeGreaterThan(2);
      // The gateway keeps two pulls out, so one comes after the last page: it is told the result ended (no NOT_FOUND in the metrics).
      expect(await pull(first)).toMatchObject({ rows: [], done: true, row_count: 50000 });
    });

    it("an NDJSON export leaves the connector as lines, each page within max_payload even with long column names", async () => {
      const long = "c".repeat(60);
      const sql = `select g as id, g::text as "${long}_1", g::text as "${long}_1", null::int as "${long}_2" from generate_series(1, 30000) g`;
      const ask = (body: Record<string, unknown>) => bus.requestWithBytes("connector.query", { tenant_id: TENANT, id: srcId, timeout_ms: 10_000, ...body } as never, { timeoutMs: 20_000 });
      const pullBytes = (p: QueryPage) => bus.requestWithBytes("connector.cursor.*", { id: p.cursor!.id, action: "next" }, { subject: p.cursor!.subject });
      let { reply: page, bytes } = await ask({ sql, stream: true, format: "ndjson" });
      const names = distinctNames(page.columns!);
      expect(names).toEqual(["id", `${long}_1`, `${long}_1_2`, `${long}_2`]);
      let text = "";
      for (;;) {
        expect(page.csv_attached).toBe(true);
        expect(page.rows).toEqual([]);
        // Each page's lines fit one message: cut by their NDJSON size, not by the smaller JSON rows.
        expect(bytes!.byteLength).toBeLessThan(bus.maxPayload);
        text += Buffer.from(bytes!).toString();
        if (page.done) break;
        ({ reply: page, bytes } = await pullBytes(page));
      }
      expect(page.row_count).toBe(30000);
      const lines = text.trimEnd().split("\n");
      expect(lines).toHaveLength(30000);
      expect(lines[41]).toBe(ndjsonLines(names, [[42, "42", "42", null]]).trimEnd());
    });

    it("a capped result larger than one page continues on a cursor and ends truncated", async () => {
      let page = await query({ sql: "select g, md5(g::text) from generate_series(1, 50000) g", limit: 40000 });
      expect(page.done).toBe(false);
      let total = page.rows.length;
      while (!page.done) {
        page = await pull(page);
        total += page.rows.length;
      }
      expect(total).toBe(40000);
      expect(page.truncated).toBe(true);
    });

    it("closing a cursor releases it", async () => {
      const first = await query({ sql: "select g from generate_series(1, 400000) g", stream: true });
      expect(first.done).toBe(false);
      const closed = await pull(first, "close");
      expect(closed.done).toBe(true);
      expect((await failure(pull(first))).code).toBe("NOT_FOUND");
    });

    it("maps database errors, timeouts and the read-only rule", async () => {
      const bad = await failure(query({ sql: "select nope from items", limit: 1 }));
      expect(bad.code).toBe("QUERY_FAILED");
      expect(bad.message).toContain('column "nope" does not exist');
      expect(bad.message).not.toContain(TEST_PG.host);
      const slow = await failure(query({ sql: "select pg_sleep(5)", limit: 1, timeout_ms: 300 }));
      expect(slow.code).toBe("TIMEOUT");
      expect(slow.message).toBe("Query exceeded its timeout of 300 ms and was cancelled");
      const write = await failure(query({ sql: "insert into items values (100, 'x', 1)", limit: 1 }));
      expect(write.code).toBe("QUERY_FAILED");
      expect(write.message).toMatch(/^Read-only query refused: INSERT is not a query/);
      const forbidden = await failure(query({ sql: "insert into items values (100, 'x', 1)", limit: 1, read_only: false }));
      expect(forbidden.code).toBe("FORBIDDEN");
      expect(forbidden.message).toContain('"allow_writes": true');
      const ok = await bus.request("connector.query", { tenant_id: TENANT, id: writableId, sql: "insert into items values (100, 'x', 1)", limit: 1, timeout_ms: 5000, read_only: false });
      expect(ok.done).toBe(true);
    });

    it("reloads a cached config when a query names another config version (a change event not heard yet)", async () => {
      await query({ sql: "select 1", limit: 1 }); // v1 cached: read-only
      sources.set(srcId, { ...sources.get(srcId)!, config: { ...config, allow_writes: true }, version: "v2" });
      expect((await failure(query({ sql: "select 1", limit: 1, read_only: false }))).code).toBe("FORBIDDEN");
      expect((await query({ sql: "select 1 as one", limit: 1, read_only: false, config_version: "v2" })).rows).toEqual([[1]]);
      sources.set(srcId, { ...sources.get(srcId)!, config, version: "v3" });
      bus.publish("catalog.events.source.changed", { id: srcId, tenant_id: TENANT, type: "database", version: "v3" });
    });

    it("health checks: ok with the server version, a failure as ok:false, a hanging server within timeout_ms, a missing source as an error", async () => {
      const check = (id: string, timeout_ms = 5000) => bus.request("connector.health.check", { tenant_id: TENANT, id, timeout_ms }, { timeoutMs: 20_000 });
      expect(await check(srcId)).toMatchObject({ ok: true, error: null, server_version: expect.stringMatching(/PostgreSQL/) });
      const refusedId = uniqueId("refused");
      sources.set(refusedId, { config: { ...config, port: 1 }, version: "v1", schema: null, tenant: TENANT });
      expect(await check(refusedId)).toMatchObject({ ok: false, error: { code: "CONNECTION_FAILED" } });
      const silent = createServer(() => undefined); // accepts, never answers
      await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
      try {
        const hangId = uniqueId("hang");
        sources.set(hangId, { config: { ...config, port: (silent.address() as { port: number }).port }, version: "v1", schema: null, tenant: TENANT });
        expect(await check(hangId, 500)).toMatchObject({ ok: false, error: { code: "TIMEOUT" } });
      } finally {
        silent.close();
      }
      expect(await failure(check(uniqueId("missing")))).toMatchObject({ code: "NOT_FOUND" });
    });

    it("gateway.events.query.cancelled stops the query with that id (same tenant only), even when it arrives first", async () => {
      const id = crypto.randomUUID();
      const running = query({ sql: "select pg_sleep(30)", query_id: id });
      await new Promise((r) => setTimeout(r, 300));
      // Another tenant's cancel for the same id is ignored.
      bus.publish("gateway.events.query.cancelled", { query_id: id, tenant_id: "tenant-b" });
      const still = await Promise.race([running.then(() => "done", () => "failed"), new Promise((r) => setTimeout(() => r("running"), 500))]);
      expect(still).toBe("running");
      bus.publish("gateway.events.query.cancelled", { query_id: id, tenant_id: TENANT });
      const err = await failure(running);
      expect(err.code).toBe("CANCELLED");

      // The cancel overtook its query: the query stops as soon as it registers.
      const early = crypto.randomUUID();
      bus.publish("gateway.events.query.cancelled", { query_id: early, tenant_id: TENANT });
      await new Promise((r) => setTimeout(r, 100));
      expect((await failure(query({ sql: "select pg_sleep(30)", query_id: early }))).code).toBe("CANCELLED");

      // A parked cursor is closed by a cancel.
      const parked = crypto.randomUUID();
      const first = await query({ sql: "select g from generate_series(1, 200000) g", stream: true, query_id: parked });
      expect(first.cursor).toBeDefined();
      bus.publish("gateway.events.query.cancelled", { query_id: parked, tenant_id: TENANT });
      await new Promise((r) => setTimeout(r, 300));
      expect((await failure(pull(first))).code).toBe("NOT_FOUND");
    });

    it("closes a source's pools when the catalog publishes its deletion", async () => {
      const appConns = async () => {
        const r = await scratch.admin("select count(*)::int as n from pg_stat_activity where datname = $1 and application_name = 'dsb-connector'", [scratch.name]);
        return (r.rows[0] as { n: number }).n;
      };
      await query({ sql: "select 1", limit: 1 });
      await bus.request("connector.query", { tenant_id: TENANT, id: writableId, sql: "select 1", limit: 1, timeout_ms: 5000 });
      expect(await appConns()).toBeGreaterThan(0);
      bus.publish("catalog.events.source.deleted", { id: srcId, tenant_id: TENANT, type: "database", file_path: null });
      bus.publish("catalog.events.source.deleted", { id: writableId, tenant_id: TENANT, type: "database", file_path: null });
      const end = Date.now() + 5000;
      while ((await appConns()) > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
      expect(await appConns()).toBe(0);
    });
  });
});

