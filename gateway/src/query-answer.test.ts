import { describe, expect, it } from "vitest";
import { SignJWT } from "jose";
import { isolatedBus } from "@dsb/runtime/testing";
import { AppError } from "@dsb/contracts";
import { createApp } from "./app.ts";
import { createVerifier } from "./auth.ts";
import { createQueryCache, MemoryCacheStore, type QueryResultRows } from "./cache/index.ts";
import { deepFreeze, memo } from "./memo.ts";
import { queryAnswerJson } from "./query-answer.ts";

const SECRET = "test-secret-with-enough-length-0123456789";
const limits = { maxUploadBytes: 1024, maxBodyBytes: 1024 * 1024, queryMaxRows: 1000, defaultTimeoutMs: 5000, busTimeoutMs: 5000 };
const ROWS = [[1, "ä \"quoted\" \n line", null, 1.25, true], [2, "€ 😀", { nested: [1, "x"] }, -0.5, false]];
const COLUMNS = [{ name: "id", type: "int4" }, { name: "näme", type: "text" }, { name: "j", type: "jsonb" }, { name: "p", type: "float8" }, { name: "b", type: "bool" }];

describe("query answer text", () => {
  const result: QueryResultRows = { columns: COLUMNS, rows: ROWS, truncated: false, execution_time_ms: 7 };
  const expected = (ms: number, queryId: string, cached: boolean, cachedAt: string | null) => JSON.stringify({
    success: true, columns: result.columns, rows: result.rows, row_count: result.rows.length, truncated: result.truncated,
    execution_time_ms: ms, query_id: queryId, cached, ...(cached && cachedAt ? { cached_at: cachedAt } : {}),
  });

  it("is JSON.stringify's text of the answer, uncached, cached, and cached again with another time and id", () => {
    expect(queryAnswerJson(result, { ms: 7, queryId: "q1", cached: false, cachedAt: null })).toBe(expected(7, "q1", false, null));
    expect(queryAnswerJson(result, { ms: 1, queryId: "q2", cached: true, cachedAt: "2026-01-01T00:00:00.000Z" })).toBe(expected(1, "q2", true, "2026-01-01T00:00:00.000Z"));
    expect(queryAnswerJson(result, { ms: 2, queryId: "q\"3", cached: true, cachedAt: "2026-01-02T00:00:00.000Z" })).toBe(expected(2, "q\"3", true, "2026-01-02T00:00:00.000Z"));
    expect(queryAnswerJson({ ...result, rows: [], truncated: true }, { ms: 0, queryId: "q4", cached: true, cachedAt: null }))
      .toBe(JSON.stringify({ success: true, columns: COLUMNS, rows: [], row_count: 0, truncated: true, execution_time_ms: 0, query_id: "q4", cached: true }));
  });
});

describe("memo and deepFreeze", () => {
  it("remembers results but not failures, stays bounded, and freezes nested values", () => {
    let calls = 0;
    const m = memo(2, (s: string) => {
      calls++;
      if (s === "bad") throw new Error("bad");
      return { s };
    });
    expect(m("a")).toBe(m("a"));
    expect(calls).toBe(1);
    expect(() => m("bad")).toThrow("bad");
    expect(() => m("bad")).toThrow("bad");
    m("b");
    m("c");
    m("a");
    expect(calls).toBe(6);
    const v = deepFreeze({ a: [1, { b: 2 }], c: "x" });
    expect(Object.isFrozen(v.a[1])).toBe(true);
    expect(() => (v.a as unknown[]).push(3)).toThrow(TypeError);
  });
});

async function setup(connectorQuery: () => Promise<object>) {
  const bus = isolatedBus();
  /** Source ids looked up in the catalog. */
  const asked: string[] = [];
  const source = { id: "s1", name: "n", type: "database", format: null, db_type: "postgresql", schema: null, connection_config: null, file_path: null,
    user_id: "u1", tenant_id: "t1", is_active: true, created_at: "2025-01-01T00:00:00.000Z", updated_at: "2025-01-01T00:00:00.000Z" };
  await bus.serve("catalog", {
    "catalog.source.get": async ({ id }) => { asked.push(id); return { source: source as never }; },
    "catalog.history.record_batch": async ({ records }) => ({ ids: records.map((r) => r.entry.id ?? null) }),
  }, { replicaId: "r1" });
  await bus.serve("connector", { "connector.query": connectorQuery as never }, { replicaId: "r1" });
  const cache = createQueryCache({ store: new MemoryCacheStore(1024 * 1024), maxEntryBytes: 64 * 1024 });
  const app = createApp({ bus, verifier: createVerifier({ secret: SECRET, tenantClaim: "tenant_id" }), limits, cache });
  const token = await new SignJWT({ tenant_id: "t1" }).setProtectedHeader({ alg: "HS256" }).setSubject("u1").setExpirationTime("1h").sign(new TextEncoder().encode(SECRET));
  const post = (body: unknown, requestId?: string, path = "/api/data/sources/s1/query") => app.request(path, {
    method: "POST", body: typeof body === "string" ? body : JSON.stringify(body),
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...(requestId ? { "x-request-id": requestId } : {}) },
  });
  return { post, asked };
}

describe("query route answers", () => {
  const page = { columns: COLUMNS, rows: ROWS, done: true, truncated: false, row_count: 2, execution_time_ms: 1 };

  it("answers the same body again (remembered), cached or not, with its own ids and headers", async () => {
    const { post } = await setup(async () => page);
    for (const body of [{ sql: "select 1", params: [1, { a: [2] }] }, { sql: "select 1", cache_ttl_seconds: 60 }]) {
      const seen = new Set<string>();
      for (let i = 0; i < 3; i++) {
        const res = await post(body, `req-${i}`);
        expect(res.status).toBe(200);
        expect(res.headers.get("content-type")).toBe("application/json");
        expect(res.headers.get("x-request-id")).toBe(`req-${i}`);
        const answer = await res.json();
        expect(answer).toMatchObject({ success: true, columns: COLUMNS, rows: ROWS, row_count: 2, truncated: false, cached: "cache_ttl_seconds" in body && i > 0 });
        expect(res.headers.get("x-query-id")).toBe(answer.query_id);
        seen.add(answer.query_id);
      }
      expect(seen.size).toBe(3);
    }
  });

  it("checks the path id and the query string every time, remembered or not", async () => {
    const { post, asked } = await setup(async () => page);
    for (let i = 0; i < 2; i++) {
      const bad = await post({ sql: "select 1" }, undefined, "/api/data/sources/s%01/query");
      expect(bad.status).toBe(400);
      expect(await bad.json()).toMatchObject({ code: "VALIDATION", error: "Path parameter id is not valid" });
      const format = await post({ sql: "select 1" }, undefined, "/api/data/sources/s1/query?format=xml");
      expect(format.status).toBe(400);
      expect((await format.json()).error).toMatch(/^Invalid query string: /);
      // The id as sent, percent-encoded, is the id looked up.
      const encoded = await post({ sql: "select 1" }, undefined, "/api/data/sources/s%31/query");
      expect(encoded.status).toBe(200);
      expect(asked).toEqual(["s1"]);
      const csv = await post({ sql: "select 1" }, undefined, "/api/data/sources/s1/query?format=csv");
      expect(csv.status).toBe(200);
      expect(csv.headers.get("content-type")).toMatch(/^text\/csv/);
      expect(await csv.text()).toMatch(/^id,/);
      const json = await post({ sql: "select 1" }, undefined, "/api/data/sources/s1/query?");
      expect(json.headers.get("content-type")).toBe("application/json");
    }
  });

  it("refuses a bad body every time it comes, and a failed query's answer still names the query and the request", async () => {
    const { post } = await setup(async () => {
      throw new AppError("QUERY_FAILED", "relation \"nope\" does not exist");
    });
    for (let i = 0; i < 2; i++) {
      const res = await post({ sql: "select 1", cache: "sometimes" });
      expect(res.status).toBe(400);
      expect((await res.json()).code).toBe("VALIDATION");
    }
    const queryId = "8d3c1a52-6f0e-4a8e-9b41-2d7e0c6f1a11";
    const failed = await post({ sql: "select * from nope", query_id: queryId }, "req-failed");
    expect(failed.status).toBe(422);
    expect(await failed.json()).toMatchObject({ success: false, code: "QUERY_FAILED" });
    expect(failed.headers.get("x-query-id")).toBe(queryId);
    expect(failed.headers.get("x-request-id")).toBe("req-failed");
  });
});
