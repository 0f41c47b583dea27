/**
 * Property-based hostile input (fast-check) through the running system: every route the gateway
 * registers (read from its OpenAPI registry, so a new route is covered without touching this
 * file) is driven with bodies and query strings generated from the route's own zod schemas,
 * valid ones and mutated ones (wrong types, huge strings, deep nesting, unicode, fields missing
 * and extra), path ids of this tenant, of another tenant and made up, odd headers and tokens.
 * Never a 5xx, never a stack trace, never a secret in a response or in any log line.
 * Hosts, ports and secrets in generated configs are pinned (a closed local port, canary
 * passwords) so nothing dials the world and any leak is visible.
 */
import { Writable } from "node:stream";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { z } from "zod";
import { DatabaseConfigSchema } from "@dsb/contracts";
import { registeredRoutes, type RouteDef } from "../support/routes.ts";
import { arbitraryOf, mutated, nastyString, type FieldOverrides } from "../support/arbitrary.ts";
import { createPgSource } from "../support/peers.ts";
import { ENCRYPTION_KEY, JWT_SECRET, startTestSystem, type RunningSystem } from "../support/system.ts";

const CANARY = "Canary-Secret-5b1e9";
const SECRETS = [CANARY, JWT_SECRET, ENCRYPTION_KEY, "gAAAAA"];
/** Runs per route: bounded so the file stays well under a minute on two cores. */
const RUNS = Number(process.env.PROPERTY_RUNS ?? 40);
/** Statuses seen per route: generation that only ever produced 400s would test nothing. */
const seen = new Map<string, Map<number, number>>();

const lines: string[] = [];
const sink = new Writable({ write(chunk, _enc, done) { lines.push(...String(chunk).split("\n").filter(Boolean)); done(); } });

let sys: RunningSystem;
let src: Awaited<ReturnType<typeof createPgSource>>;
const ids: Record<"pg" | "file" | "otherTenant", string> = { pg: "", file: "", otherTenant: "" };

const OVERRIDES: FieldOverrides = {
  host: fc.constantFrom("127.0.0.1", "localhost"),
  port: fc.constant(1),
  sql: fc.oneof(fc.constantFrom("select * from t", "select count(*) as n from t", "select $1::text as v", "select name from t where id = 1"), nastyString),
  password: fc.constant(CANARY),
  passphrase: fc.constant(CANARY),
  private_key: fc.constant(`-----BEGIN PRIVATE KEY-----${CANARY}-----END PRIVATE KEY-----`),
  api_key: fc.constant(CANARY),
  token: fc.constant(CANARY),
  secret_access_key: fc.constant(CANARY),
  connection_string: fc.constant(`postgresql://u:${CANARY}@127.0.0.1:1/db`),
  api_endpoint: fc.constant("http://127.0.0.1:1"),
  access_url: fc.constant("http://127.0.0.1:1"),
  // SQL Server: a named instance is looked up over UDP (SQL Browser), which waits out its 15 s here.
  instance_name: fc.constant(undefined),
  // Bounded so a generated query cannot hold the run (random SQL fails at once anyway).
  timeout_ms: fc.integer({ min: 1, max: 3000 }),
};

/** Types whose drivers dial cloud endpoints by name (Snowflake, BigQuery, MongoDB SRV) are left to their own suites. */
const LOCAL_TYPES = new Set(["postgresql", "postgres", "mysql", "clickhouse", "mssql", "redshift", "sqlserver"]);

/**
 * Values the schema accepts (refinements included), of a local database type. After 300 misses in
 * a row it lets one through: a schema whose valid values are rare still gets its runs.
 */
function validOf(schema: z.ZodType): fc.Arbitrary<unknown> {
  let misses = 0;
  return arbitraryOf(schema, OVERRIDES).filter((v) => {
    const type = v && typeof v === "object" ? (v as { type?: unknown }).type : undefined;
    const ok = schema.safeParse(v).success && (typeof type !== "string" || LOCAL_TYPES.has(type));
    if (ok || ++misses > 300) { misses = 0; return true; }
    return false;
  });
}

/**
 * A route's valid bodies. test and connect register a loose record (the config is parsed inside,
 * to name unknown fields): their bodies come from DatabaseConfigSchema, plus a name for connect.
 */
function bodyOf(r: RouteDef): fc.Arbitrary<unknown> {
  if (r.path === "/api/data/database/test") return validOf(DatabaseConfigSchema);
  if (r.path === "/api/data/database/connect") return fc.tuple(validOf(DatabaseConfigSchema), nastyString).map(([c, name]) => ({ ...(c as object), name }));
  return r.body ? validOf(r.body) : fc.constant(undefined);
}

const pathId = () => fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(ids.pg, ids.file) },
  { weight: 2, arbitrary: fc.constant(ids.otherTenant) },
  { weight: 2, arbitrary: nastyString.filter((s) => s.length > 0) },
  { weight: 1, arbitrary: fc.constantFrom("x".repeat(129), "..", "%2e%2e", "%00", "00000000-0000-0000-0000-000000000000") },
);

const headerSets = fc.record({
  accept: fc.constantFrom(undefined, "application/json", "text/csv", "application/x-ndjson", "*/*", "text/html", "\u00e9"),
  contentType: fc.constantFrom("application/json", "application/json; charset=utf-8", "text/plain", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded", undefined),
  requestId: fc.option(fc.string({ maxLength: 100, unit: "grapheme-ascii" }), { nil: undefined }),
  user: fc.constantFrom("u1", "u2"),
  role: fc.constantFrom(undefined, "admin", "viewer"),
});

/** Lone surrogates replaced (String.prototype.toWellFormed, Node 20, newer than this TypeScript lib): encodeURIComponent throws on them. */
const wellFormed = (s: string) => s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD");

/** A path with its `{id}`-style parameters filled, each segment percent-encoded. */
const fill = (path: string, id: string) => path.replace(/\{\w+\}/g, () => encodeURIComponent(wellFormed(id)));

function queryString(value: unknown): string {
  if (!value || typeof value !== "object") return "";
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(value)) if (v !== undefined) qs.set(k, typeof v === "string" ? v : JSON.stringify(v));
  const s = qs.toString();
  return s ? `?${s}` : "";
}

/** What every answer must satisfy, whatever was sent. */
async function expectSafe(res: Response, what: string): Promise<void> {
  const text = await res.text().catch((e: Error) => `<cut: ${e.message}>`);
  // 504 TIMEOUT is the contract's answer to a query that outran its own timeout_ms (generated down to 1 ms).
  const timedOut = res.status === 504 && /"code":"TIMEOUT"/.test(text);
  if (!timedOut) expect(res.status, `${what} → ${text.slice(0, 500)}`).toBeLessThan(500);
  expect(text, what).not.toMatch(/\n\s+at |node_modules|\.ts:\d+|\.js:\d+:\d+/);
  for (const s of SECRETS) expect(text.includes(s), `${what} leaks a secret: ${text.slice(0, 300)}`).toBe(false);
  if (res.status >= 400 && text && (res.headers.get("content-type") ?? "").includes("json")) {
    const body = JSON.parse(text) as { success?: boolean; code?: string; error?: string };
    expect(body, what).toMatchObject({ success: false, code: expect.stringMatching(/^[A-Z_]+$/), error: expect.any(String) });
    expect(body.error!.length, what).toBeGreaterThan(5);
  }
}

beforeAll(async () => {
  sys = await startTestSystem({ mode: "embedded", logTo: sink });
  src = await createPgSource(["create table t (id int primary key, name text)", "insert into t values (1, 'a'), (2, 'b')"]);
  const connect = async (as: { tenant?: string }) => {
    const res = await sys.api("/api/data/database/connect", { method: "POST", as, json: { type: "postgres", name: "prop", host: "127.0.0.1", port: 5432, database: src.database, username: "postgres", password: CANARY, ssl: { mode: "disable" } } });
    expect(res.status, await res.clone().text()).toBe(201);
    return ((await res.json()) as { data_source: { id: string } }).data_source.id;
  };
  ids.pg = await connect({});
  ids.otherTenant = await connect({ tenant: "t2" });
  const form = new FormData();
  form.set("file", new Blob(["id,name\n1,a\n2,b\n"]), "f.csv");
  ids.file = ((await (await sys.api("/api/data/upload", { method: "POST", body: form })).json()) as { data_source: { id: string } }).data_source.id;
});
afterAll(async () => {
  await sys?.stop();
  await src?.drop();
});

describe("every route under generated hostile input", () => {
  it("covers the routes the gateway registers", () => {
    const routes = registeredRoutes(sys).map((r) => `${r.method} ${r.path}`);
    expect(routes).toEqual(expect.arrayContaining(["POST /api/data/database/connect", "POST /api/data/sources/{id}/query", "PATCH /api/data/sources/{id}", "GET /api/data/sources"]));
  });

  it("answers every JSON route's generated bodies, query strings, ids and headers with < 500, no stack, no secret", async () => {
    const routes = registeredRoutes(sys).filter((r) => r.path !== "/api/data/upload");
    for (const r of routes) {
      const t0 = Date.now();
      const body = bodyOf(r);
      const query = r.query ? validOf(r.query) : fc.constant(undefined);
      await fc.assert(fc.asyncProperty(
        fc.oneof({ weight: 1, arbitrary: body }, { weight: 3, arbitrary: mutated(body) }),
        fc.oneof({ weight: 3, arbitrary: query }, { weight: 1, arbitrary: mutated(query) }),
        pathId(), headerSets,
        async (b, q, id, h) => {
          const headers: Record<string, string> = {};
          if (h.accept) headers.accept = h.accept;
          if (h.contentType) headers["content-type"] = h.contentType;
          if (h.requestId !== undefined) headers["x-request-id"] = h.requestId;
          const url = fill(r.path, id) + queryString(q);
          const init: RequestInit = { method: r.method, headers, signal: AbortSignal.timeout(30_000) };
          if (r.method !== "GET" && r.method !== "DELETE" && b !== undefined) init.body = JSON.stringify(b);
          // DELETE as the owner would empty the pool of ids; another user of the tenant gets 403.
          const as = { user: r.method === "DELETE" ? "u2" : h.user, ...(h.role && r.method !== "DELETE" ? { role: h.role } : {}) };
          const sent = Date.now();
          const res = await sys.api(url, { ...init, as });
          if (process.env.PROPERTY_TRACE && Date.now() - sent > 1000) console.log(`slow ${Date.now() - sent} ms: ${r.method} ${url} ${String(init.body).slice(0, 400)}`);
          const tally = seen.get(`${r.method} ${r.path}`) ?? new Map<number, number>();
          seen.set(`${r.method} ${r.path}`, tally.set(res.status, (tally.get(res.status) ?? 0) + 1));
          await expectSafe(res, `${r.method} ${url} ${JSON.stringify(b)?.slice(0, 300)}`);
        },
      ), { numRuns: RUNS, endOnFailure: true });
      if (process.env.PROPERTY_TRACE) console.log(`${r.method} ${r.path}: ${Date.now() - t0} ms`);
    }
    console.log(Object.fromEntries([...seen].map(([k, v]) => [k, Object.fromEntries(v)])));
    // Valid input got through to the services, not only refusals.
    // 422: a connect or query that reached a database (and failed there, as random SQL and closed ports do).
    const reached = (route: string) => [...(seen.get(route) ?? new Map<number, number>())].some(([status]) => status < 300 || status === 422);
    for (const route of ["GET /api/data/sources", "GET /api/data/sources/{id}", "POST /api/data/sources/{id}/query", "GET /api/data/sources/{id}/queries", "POST /api/data/database/test", "POST /api/data/database/connect"]) expect(reached(route), route).toBe(true);
  }, 180_000);

  it("answers generated uploads (any bytes, any file name, any display name) with < 500, no stack", async () => {
    await fc.assert(fc.asyncProperty(
      fc.oneof(fc.uint8Array({ maxLength: 2000 }), fc.string({ unit: "grapheme", maxLength: 500 }).map((s) => new TextEncoder().encode(s)), fc.constant(new TextEncoder().encode("a,b\n1,2\n"))),
      fc.oneof(nastyString, fc.constantFrom("x.csv", "x.json", "x.parquet", "x.xlsx", "x.ndjson", "../../x.csv", "..\\..\\x.csv", "/etc/passwd", "a/b/c.csv", "CON.csv", ".csv", "")),
      fc.option(nastyString, { nil: undefined }),
      async (bytes, filename, name) => {
        const form = new FormData();
        form.set("file", new Blob([bytes]), filename);
        if (name !== undefined) form.set("name", name);
        const res = await sys.api("/api/data/upload", { method: "POST", body: form, signal: AbortSignal.timeout(30_000) });
        await expectSafe(res, `upload ${JSON.stringify(filename)} (${bytes.length} bytes)`);
      },
    ), { numRuns: RUNS * 2, endOnFailure: true });
  }, 120_000);

  it("answers generated paths, methods and authorization headers with < 500", async () => {
    const segment = fc.oneof(nastyString, fc.constantFrom("sources", "data", "api", "query", "schema", "..", "%2e%2e", "%ff", "%"));
    await fc.assert(fc.asyncProperty(
      fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"),
      fc.array(segment, { minLength: 1, maxLength: 5 }),
      fc.oneof(fc.constant(undefined), fc.string({ unit: "binary-ascii", maxLength: 60 }).map((s) => `Bearer ${s.replace(/[\x00-\x1f\x7f]/g, "")}`), fc.constantFrom("Bearer", "Basic YTpi", "bearer  x.y.z", "Bearer eyJhbGciOiJub25lIn0.e30.")),
      async (method, segments, auth) => {
        // Dots encoded too: fetch would resolve `..` segments out of /api/data (to `/`, the console, 503 when it is not built).
        const path = `/api/data/${segments.map((s) => encodeURIComponent(wellFormed(s)).replace(/\./g, "%2E")).join("/")}`;
        const headers: Record<string, string> = {};
        if (auth !== undefined) headers.authorization = auth;
        const res = await fetch(sys.url + path, { method, headers, signal: AbortSignal.timeout(30_000) });
        await expectSafe(res, `${method} ${path}`);
      },
    ), { numRuns: RUNS * 3, endOnFailure: true });
  });

  it("wrote no secret, no stack trace and no error-level line to the logs meanwhile", () => {
    expect(lines.length).toBeGreaterThan(10);
    for (const line of lines) {
      for (const s of SECRETS) expect(line.includes(s), `log line leaks a secret: ${line.slice(0, 300)}`).toBe(false);
      expect(line, "stack trace in a log line").not.toMatch(/\\n\s+at |"stack":/);
      const entry = JSON.parse(line) as { level: number };
      expect(entry.level, line.slice(0, 500)).toBeLessThan(50);
    }
  });
});
