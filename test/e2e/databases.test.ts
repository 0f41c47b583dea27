import { get as httpGet, type IncomingHttpHeaders } from "node:http";
import { gunzipSync } from "node:zlib";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SourceSchemaSchema } from "@dsb/contracts";
import { startTestSystem, type RunningSystem } from "../support/system.ts";
import { createPgSource } from "../support/peers.ts";

const PASSWORD = "pg-S3cret-never-shown";
let sys: RunningSystem;
let src: Awaited<ReturnType<typeof createPgSource>>;
let sourceId: string;
const bodies: string[] = [];

/** A GET whose body comes back as sent (fetch would decompress it). */
function raw(url: string, headers: Record<string, string>): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((ok, fail) => {
    httpGet(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => ok({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", fail);
    }).on("error", fail);
  });
}

async function json(res: Response) {
  const text = await res.text();
  bodies.push(text);
  return JSON.parse(text);
}

beforeAll(async () => {
  sys = await startTestSystem();
  src = await createPgSource([
    "create table customers (id integer primary key, name text not null, region varchar(10), joined date)",
    "create table orders (id bigint primary key, customer_id integer references customers(id), amount numeric(12,2), placed_at timestamptz, big int8)",
    "create view eu_customers as select * from customers where region = 'EU'",
    "insert into customers values (1,'Ada','EU','2024-01-05'),(2,'Bob','US','2024-02-06'),(3,'Cleo','EU',null)",
    "insert into orders values (10,1,12.50,'2024-03-01T10:00:00Z',9007199254740993),(11,1,7.25,'2024-03-02T11:00:00Z',1),(12,2,100.00,null,null)",
  ]);
});
afterAll(async () => {
  await sys?.stop();
  await src?.drop();
});

const config = () => ({ type: "postgres", host: "127.0.0.1", port: 5432, database: src.database, username: "postgres", password: PASSWORD });

describe("PostgreSQL source through the gateway", () => {
  it("tests a connection and reports the server version", async () => {
    const body = await json(await sys.api("/api/data/database/test", { method: "POST", json: config() }));
    expect(body).toMatchObject({ success: true, message: expect.any(String), latency_ms: expect.any(Number) });
    expect(body.server_version).toMatch(/PostgreSQL 1\d/);
  });

  it("reports a failed test as 200 success:false CONNECTION_FAILED", async () => {
    const body = await json(await sys.api("/api/data/database/test", { method: "POST", json: { ...config(), port: 1 } }));
    expect(body).toMatchObject({ success: false, code: "CONNECTION_FAILED" });
  });

  it("refuses cloud metadata addresses before dialing, on test and connect", async () => {
    for (const path of ["/api/data/database/test", "/api/data/database/connect"]) {
      const res = await sys.api(path, { method: "POST", json: { ...config(), host: "169.254.169.254", name: "meta" } });
      expect(res.status).toBe(403);
      expect(await json(res)).toMatchObject({ success: false, code: "ADDRESS_NOT_ALLOWED" });
    }
  });

  it("connects: stores the source redacted with its introspected schema", async () => {
    const res = await sys.api("/api/data/database/connect", { method: "POST", json: { ...config(), name: "Sales" } });
    const body = await json(res);
    expect(res.status).toBe(201);
    const ds = body.data_source;
    sourceId = ds.id;
    expect(ds).toMatchObject({ name: "Sales", type: "database", db_type: "postgresql", tenant_id: "t1", user_id: "u1", is_active: true });
    expect(ds.connection_config.password).toBe("********");
    expect(JSON.stringify(ds)).not.toMatch(/__enc_|gAAAA/);
    const customers = ds.schema.tables.find((t: { name: string }) => t.name === "customers");
    expect(customers).toMatchObject({ schema: "public", kind: "table" });
    expect(customers.columns[0]).toMatchObject({ name: "id", nullable: false, primary_key: true });
    expect(ds.schema.tables.find((t: { name: string }) => t.name === "eu_customers")).toMatchObject({ kind: "view" });
    expect(ds.schema.schemas).toEqual(["public"]);
  });

  it("a failed connect is 422 and stores nothing", async () => {
    const before = (await json(await sys.api("/api/data/sources"))).data_sources.length;
    const res = await sys.api("/api/data/database/connect", { method: "POST", json: { ...config(), port: 1, name: "broken" } });
    expect(res.status).toBe(422);
    expect((await json(res)).code).toBe("CONNECTION_FAILED");
    expect((await json(await sys.api("/api/data/sources"))).data_sources.length).toBe(before);
  });

  it("runs a parameterised query with typed values and records it in the history", async () => {
    const res = await sys.api(`/api/data/sources/${sourceId}/query`, {
      method: "POST", json: { sql: "select id, amount, placed_at, big from orders where customer_id = $1 order by id", params: [1], natural_language_query: "Ada's orders" },
    });
    const body = await json(res);
    expect(res.status).toBe(200);
    expect(body.columns.map((c: { name: string }) => c.name)).toEqual(["id", "amount", "placed_at", "big"]);
    expect(body.rows).toEqual([[10, "12.50", "2024-03-01T10:00:00Z", "9007199254740993"], [11, "7.25", "2024-03-02T11:00:00Z", 1]]);
    expect(body).toMatchObject({ row_count: 2, truncated: false, query_id: expect.any(String) });
    const hist = await json(await sys.api(`/api/data/sources/${sourceId}/queries`));
    expect(hist.queries[0]).toMatchObject({ id: body.query_id, status: "success", result_count: 2, natural_language_query: "Ada's orders", data_source_id: sourceId });
    // count(*) is an int8: a JSON number, with the database's type kept (API.md "Column values").
    const n = await json(await sys.api(`/api/data/sources/${sourceId}/query`, { method: "POST", json: { sql: "select count(*) as n, 9007199254740993::int8 as big from orders" } }));
    expect(n.columns).toEqual([{ name: "n", type: "int8" }, { name: "big", type: "int8" }]);
    expect(n.rows).toEqual([[3, "9007199254740993"]]);
  });

  it("records every query of a concurrent burst in the history (written in batches behind the responses)", async () => {
    const bodies = await Promise.all(Array.from({ length: 25 }, (_, i) =>
      sys.api(`/api/data/sources/${sourceId}/query`, { method: "POST", json: { sql: `select ${i} as burst` } }).then(json)));
    const ids = bodies.map((b) => b.query_id as string);
    expect(new Set(ids).size).toBe(25);
    const hist = await json(await sys.api(`/api/data/sources/${sourceId}/queries?limit=100`));
    const listed = new Map(hist.queries.map((q: { id: string; query: string }) => [q.id, q.query]));
    expect(ids.map((id) => listed.get(id))).toEqual(bodies.map((_, i) => `select ${i} as burst`));
  });

  it("caps rows at limit with truncated:true and keeps duplicate column names", async () => {
    const body = await json(await sys.api(`/api/data/sources/${sourceId}/query`, { method: "POST", json: { sql: "select g as x, g as x from generate_series(1, 50) g", limit: 10 } }));
    expect(body).toMatchObject({ row_count: 10, truncated: true });
    expect(body.columns.map((c: { name: string }) => c.name)).toEqual(["x", "x"]);
    expect(body.rows[0]).toEqual([1, 1]);
  });

  it("runs a query_config with filters, grouping and ordering", async () => {
    const body = await json(await sys.api(`/api/data/sources/${sourceId}/query`, {
      method: "POST",
      json: { query_config: { table: "public.orders", group_by: ["customer_id"], aggregates: [{ fn: "sum", column: "amount", as: "total" }, { fn: "count", as: "n" }], order_by: [{ column: "customer_id" }] } },
    }));
    expect(body.rows.map((r: unknown[]) => [r[0], Number(r[1]), Number(r[2])])).toEqual([[1, 19.75, 2], [2, 100, 1]]);
  });

  it("refuses unknown columns in a query_config with 400 and records nothing", async () => {
    const before = (await json(await sys.api(`/api/data/sources/${sourceId}/queries`))).queries.length;
    const res = await sys.api(`/api/data/sources/${sourceId}/query`, { method: "POST", json: { query_config: { table: "public.orders", select: ["nope"] } } });
    expect(res.status).toBe(400);
    expect((await json(res)).code).toBe("VALIDATION");
    expect((await json(await sys.api(`/api/data/sources/${sourceId}/queries`))).queries.length).toBe(before);
  });

  it("reports database errors as 422 QUERY_FAILED and records them", async () => {
    const res = await sys.api(`/api/data/sources/${sourceId}/query`, { method: "POST", json: { sql: "select * from no_such_table" } });
    expect(res.status).toBe(422);
    const body = await json(res);
    expect(body).toMatchObject({ success: false, code: "QUERY_FAILED" });
    expect(body.error).toMatch(/no_such_table/);
    const hist = await json(await sys.api(`/api/data/sources/${sourceId}/queries`));
    expect(hist.queries[0]).toMatchObject({ status: "error", query: "select * from no_such_table" });
    const params = await sys.api(`/api/data/sources/${sourceId}/query`, { method: "POST", json: { sql: "select $1::int", params: [] } });
    expect(params.status).toBe(422);
    expect(await json(params)).toMatchObject({ code: "QUERY_FAILED", error: expect.stringMatching(/parameter/) });
  });

  it("refuses writes under the read-only default", async () => {
    const res = await sys.api(`/api/data/sources/${sourceId}/query`, { method: "POST", json: { sql: "insert into customers values (9,'Eve','EU',null)" } });
    expect(res.status).toBe(422);
    expect((await src.exec("select count(*)::int as n from customers")).rows[0].n).toBe(3);
    const w = await sys.api(`/api/data/sources/${sourceId}/query`, { method: "POST", json: { sql: "delete from customers", read_only: false } });
    expect(w.status).toBe(403);
  });

  it("cancels a query over its timeout on the database", async () => {
    const res = await sys.api(`/api/data/sources/${sourceId}/query`, { method: "POST", json: { sql: "select pg_sleep(30) /* dsb-timeout-probe */", timeout_ms: 500 } });
    expect(res.status).toBe(504);
    expect((await json(res)).code).toBe("TIMEOUT");
    const c = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres" });
    await c.connect();
    let running = 1;
    for (let i = 0; i < 20 && running > 0; i++) {
      running = (await c.query("select count(*)::int as n from pg_stat_activity where query like '%dsb-timeout-probe%' and state = 'active' and pid <> pg_backend_pid()")).rows[0].n;
      if (running) await new Promise((r) => setTimeout(r, 100));
    }
    await c.end();
    expect(running).toBe(0);
  });

  it("streams a large result as CSV and as NDJSON without the row cap", async () => {
    const res = await sys.api(`/api/data/sources/${sourceId}/query`, {
      method: "POST", headers: { accept: "text/csv" }, json: { sql: "select g as n, 'row ' || g as label, null::text as empty from generate_series(1, 200000) g" },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/csv/);
    const text = await res.text();
    const lines = text.trimEnd().split("\r\n");
    expect(lines[0]).toBe("n,label,empty");
    expect(lines.length).toBe(200_001);
    expect(lines[200_000]).toBe("200000,row 200000,");
    const nd = await sys.api(`/api/data/sources/${sourceId}/query?format=ndjson`, { method: "POST", json: { sql: "select id, name from customers order by id" } });
    expect((await nd.text()).trim().split("\n").map((l) => JSON.parse(l))).toEqual([{ id: 1, name: "Ada" }, { id: 2, name: "Bob" }, { id: 3, name: "Cleo" }]);
  });

  it("refreshes the schema live and lists the changes", async () => {
    await src.exec(`alter table customers add column email text; create table "naïve ✓ 名前" ("ü ""x""" int)`);
    const body = await json(await sys.api(`/api/data/sources/${sourceId}/schema?refresh=true`));
    expect(body.changes).toContainEqual(expect.objectContaining({ kind: "column_added", table: "public.customers", column: "email" }));
    // Names beyond ASCII cross as the database printed them (the reply travels as UTF-8 bytes).
    expect(body.changes).toContainEqual({ kind: "table_added", table: "public.naïve ✓ 名前" });
    expect(body.schema.tables.find((t: { name: string }) => t.name === "naïve ✓ 名前").columns[0].name).toBe('ü "x"');
    expect(SourceSchemaSchema.strict().safeParse(body.schema).success).toBe(true);
    expect(Object.keys(body)).toEqual(["success", "schema", "changes"]);
    const stored = await json(await sys.api(`/api/data/sources/${sourceId}/schema`));
    expect(stored.schema.tables.find((t: { name: string }) => t.name === "customers").columns.map((c: { name: string }) => c.name)).toContain("email");
    // Unchanged since: no changes, the stored copy keeps its tables and takes the new last_updated.
    const again = await json(await sys.api(`/api/data/sources/${sourceId}/schema?refresh=true`));
    expect(again.changes).toEqual([]);
    expect(again.schema.last_updated > body.schema.last_updated).toBe(true);
    const storedAgain = await json(await sys.api(`/api/data/sources/${sourceId}/schema`));
    expect(storedAgain.schema).toEqual(again.schema);
  });

  it("sends a live schema gzipped to a client that accepts it: the identity body byte for byte, Vary: Accept-Encoding", async () => {
    const get = async (acceptEncoding: string) => {
      const res = await raw(`${sys.url}/api/data/sources/${sourceId}/schema?refresh=true`, { authorization: `Bearer ${await sys.token()}`, "accept-encoding": acceptEncoding });
      expect(res.status).toBe(200);
      expect(res.headers.vary).toBe("accept-encoding");
      expect(res.headers["content-type"]).toBe("application/json");
      return res;
    };
    const identity = await get("identity");
    expect(identity.headers["content-encoding"]).toBeUndefined();
    const refused = await get("gzip;q=0, identity");
    expect(refused.headers["content-encoding"]).toBeUndefined();
    const zipped = await get("br, gzip");
    expect(zipped.headers["content-encoding"]).toBe("gzip");
    expect(zipped.body.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    // Each refresh stamps its own last_updated; everything else is the same bytes (non-ASCII names included).
    const stamp = (b: Buffer) => b.toString("utf8").replace(/"last_updated":"[^"]+"/, '"last_updated":"T"');
    const unzipped = gunzipSync(zipped.body);
    expect(stamp(unzipped)).toBe(stamp(identity.body));
    expect(stamp(unzipped)).toBe(stamp(refused.body));
    expect(unzipped.toString("utf8")).toContain('"name":"naïve ✓ 名前"');
    expect(JSON.parse(unzipped.toString("utf8"))).toMatchObject({ success: true, changes: [] });
  });

  it("keeps tenants apart: another tenant sees nothing and gets 404 everywhere", async () => {
    const as = { tenant: "t2", user: "u1" };
    expect((await json(await sys.api("/api/data/sources", { as }))).data_sources).toEqual([]);
    for (const [method, path, body] of [
      ["GET", `/api/data/sources/${sourceId}`], ["GET", `/api/data/sources/${sourceId}/schema`], ["GET", `/api/data/sources/${sourceId}/queries`],
      ["POST", `/api/data/sources/${sourceId}/query`, { sql: "select 1" }], ["DELETE", `/api/data/sources/${sourceId}`],
    ] as const) {
      const res = await sys.api(path, { method, as, ...(body ? { json: body } : {}) });
      expect(res.status, `${method} ${path}`).toBe(404);
    }
  });

  it("lets only the owner or an admin delete, then the source is gone", async () => {
    const other = await sys.api(`/api/data/sources/${sourceId}`, { method: "DELETE", as: { tenant: "t1", user: "u2" } });
    expect(other.status).toBe(403);
    expect((await json(other)).code).toBe("FORBIDDEN");
    const listed = await json(await sys.api("/api/data/sources?type=database", { as: { tenant: "t1", user: "u2" } }));
    expect(listed.data_sources.map((s: { id: string }) => s.id)).toContain(sourceId);
    const del = await sys.api(`/api/data/sources/${sourceId}`, { method: "DELETE", as: { tenant: "t1", user: "u3", role: "admin" } });
    expect(del.status).toBe(200);
    expect((await sys.api(`/api/data/sources/${sourceId}`)).status).toBe(404);
    expect((await sys.api(`/api/data/sources/${sourceId}/query`, { method: "POST", json: { sql: "select 1" } })).status).toBe(404);
  });

  it("never returned the password in any response", () => {
    for (const b of bodies) expect(b).not.toContain(PASSWORD);
  });
});
