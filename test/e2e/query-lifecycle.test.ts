/**
 * The query lifecycle of API.md's second release, end to end through the gateway: query ids,
 * cancel by id, client disconnects, export limits and exports that fail after their first bytes.
 * "The database stopped" is read from the database itself: pg_stat_activity, MariaDB's
 * processlist, ClickHouse's system.processes (bounded polls, no timing assertions).
 */
import { Writable } from "node:stream";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { skipped } from "@dsb/runtime/testing";
import { startTestSystem, type RunningSystem } from "../support/system.ts";
import { generateKeyPairSync } from "node:crypto";
import { clickhouseExec, clickhouseUp, createMysqlSource, createPgSource, MARIADB_SOCKET } from "../support/peers.ts";
import { startSnowflakeStandIn, type SnowflakeStandIn } from "../support/stand-ins/snowflake.ts";
import { startBigqueryStandIn, type BigqueryStandIn } from "../support/stand-ins/bigquery.ts";

const MODES = (process.env.TEST_NATS_URL ? ["embedded", "distributed"] : ["embedded"]) as ("embedded" | "distributed")[];
if (MODES.length === 1) skipped("query lifecycle, distributed mode", "TEST_NATS_URL is not set");

const uuid = () => crypto.randomUUID();
const tag = () => `lc_${Math.random().toString(36).slice(2, 10)}`;

/** Polls `check` until it is true; fails naming `what` after `ms` (a bound, not a timing assertion). */
async function waitUntil(check: () => Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Reads a response body to its end; the error when the transfer ends early. */
async function readAll(res: Response): Promise<{ text: string; error: unknown }> {
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let text = "";
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) return { text, error: null };
      text += dec.decode(r.value, { stream: true });
    }
  } catch (e) {
    return { text, error: e };
  }
}

/**
 * Runs a long statement twice through the gateway: cancels the first by id (409 CANCELLED), drops
 * the client of the second; `running(marker)` (the database's own view) must fall to 0 each time.
 */
async function cancelAndDisconnect(sys: RunningSystem, sourceId: string, sqlOf: (marker: string) => string, running: (marker: string) => Promise<number>, db: string) {
  const path = `/api/data/sources/${sourceId}/query`;
  const marker = tag();
  const id = uuid();
  const p = sys.api(path, { method: "POST", json: { sql: sqlOf(marker), query_id: id } });
  await waitUntil(async () => (await running(marker)) === 1, "the statement to run");
  expect((await sys.api(`/api/data/queries/${id}/cancel`, { method: "POST" })).status).toBe(200);
  const res = await p;
  expect(res.status).toBe(409);
  expect((await res.json()).code).toBe("CANCELLED");
  await waitUntil(async () => (await running(marker)) === 0, `${db} to stop the cancelled statement`);

  const gone = tag();
  const ac = new AbortController();
  const q = sys.api(path, { method: "POST", json: { sql: sqlOf(gone) }, signal: ac.signal }).catch((e: unknown) => e);
  await waitUntil(async () => (await running(gone)) === 1, "the statement to run");
  ac.abort();
  await q;
  await waitUntil(async () => (await running(gone)) === 0, `${db} to stop the abandoned statement`);
}

/** Log lines the systems of this file write (JSON, one per line). */
const logLines: string[] = [];
const logTo = new Writable({ write(chunk, _enc, done) { logLines.push(...String(chunk).split("\n").filter(Boolean)); done(); } });

describe.each(MODES)("query lifecycle (%s)", (mode) => {
  let sys: RunningSystem;
  let src: Awaited<ReturnType<typeof createPgSource>>;
  let sourceId: string;
  const queryPath = () => `/api/data/sources/${sourceId}/query`;

  /** Statements containing `marker` that PostgreSQL is running right now. */
  const pgActive = async (marker: string) =>
    Number((await src.exec(`select count(*)::int as n from pg_stat_activity where state = 'active' and query like '%${marker}%' and pid <> pg_backend_pid()`)).rows[0].n);
  const history = async () => (await (await sys.api(`/api/data/sources/${sourceId}/queries?limit=100`)).json()).queries as { id: string; status: string; error: string | null; result_count: number | null }[];
  const historyOf = async (id: string) => (await history()).find((h) => h.id === id);

  beforeAll(async () => {
    sys = await startTestSystem({ mode, logTo });
    src = await createPgSource(["create table items (id int primary key, name text)", "insert into items select i, 'n' || i from generate_series(1, 500) i"]);
    const res = await sys.api("/api/data/database/connect", { method: "POST", json: { type: "postgresql", host: "127.0.0.1", database: src.database, username: "postgres", password: "x", name: "lifecycle" } });
    expect(res.status).toBe(201);
    sourceId = (await res.json()).data_source.id;
  });
  afterAll(async () => {
    await sys?.stop();
    await src?.drop();
  });

  it("names every query: x-query-id and query_id agree, a client-chosen id is kept, and a running id is a 409 CONFLICT", async () => {
    const res = await sys.api(queryPath(), { method: "POST", json: { sql: "select 1 as one" } });
    const body = await res.json();
    expect(res.status).toBe(200);
    expect(res.headers.get("x-query-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.query_id).toBe(res.headers.get("x-query-id"));

    const mine = uuid();
    const chosen = await sys.api(queryPath(), { method: "POST", json: { sql: "select 2", query_id: mine } });
    expect(chosen.headers.get("x-query-id")).toBe(mine);
    expect((await chosen.json()).query_id).toBe(mine);
    expect((await historyOf(mine))?.status).toBe("success");

    const exp = await sys.api(`${queryPath()}?format=csv`, { method: "POST", json: { sql: "select 3" } });
    expect(exp.headers.get("x-query-id")).toMatch(/^[0-9a-f-]{36}$/);
    await exp.text();

    const marker = tag();
    const id = uuid();
    const running = sys.api(queryPath(), { method: "POST", json: { sql: `select pg_sleep(30) /* ${marker} */`, query_id: id } });
    await waitUntil(async () => (await pgActive(marker)) === 1, "the sleep to run");
    const dup = await sys.api(queryPath(), { method: "POST", json: { sql: "select 1", query_id: id } });
    expect(dup.status).toBe(409);
    expect((await dup.json()).code).toBe("CONFLICT");
    expect((await sys.api(`/api/data/queries/${id}/cancel`, { method: "POST" })).status).toBe(200);
    expect((await running).status).toBe(409);
  });

  it("cancels by id while the first page is computed: the request answers 409 CANCELLED, PostgreSQL stops, history says Cancelled", async () => {
    const marker = tag();
    const id = uuid();
    const running = sys.api(queryPath(), { method: "POST", json: { sql: `select pg_sleep(30) /* ${marker} */`, query_id: id } });
    await waitUntil(async () => (await pgActive(marker)) === 1, "the sleep to run");

    const other = await sys.api(`/api/data/queries/${id}/cancel`, { method: "POST", as: { user: "u2" } });
    expect(other.status).toBe(403);
    expect((await other.json()).code).toBe("FORBIDDEN");
    const otherTenant = await sys.api(`/api/data/queries/${id}/cancel`, { method: "POST", as: { tenant: "t2", role: "admin" } });
    expect(otherTenant.status).toBe(404);
    expect(await pgActive(marker)).toBe(1);

    const cancel = await sys.api(`/api/data/queries/${id}/cancel`, { method: "POST" });
    expect(cancel.status).toBe(200);
    expect(await cancel.json()).toEqual({ success: true });
    const res = await running;
    expect(res.status).toBe(409);
    expect(res.headers.get("x-query-id")).toBe(id);
    expect((await res.json()).code).toBe("CANCELLED");
    await waitUntil(async () => (await pgActive(marker)) === 0, "PostgreSQL to stop the cancelled statement");
    expect(await historyOf(id)).toMatchObject({ status: "error", error: "Cancelled" });
    // Not running any more.
    expect((await sys.api(`/api/data/queries/${id}/cancel`, { method: "POST" })).status).toBe(404);
  });

  it("lets an admin of the tenant cancel another user's query; an unknown id is 404", async () => {
    const marker = tag();
    const id = uuid();
    const running = sys.api(queryPath(), { method: "POST", json: { sql: `select pg_sleep(30) /* ${marker} */`, query_id: id } });
    await waitUntil(async () => (await pgActive(marker)) === 1, "the sleep to run");
    expect((await sys.api(`/api/data/queries/${id}/cancel`, { method: "POST", as: { user: "boss", role: "admin" } })).status).toBe(200);
    expect((await running).status).toBe(409);
    await waitUntil(async () => (await pgActive(marker)) === 0, "PostgreSQL to stop the cancelled statement");
    const unknown = await sys.api(`/api/data/queries/${uuid()}/cancel`, { method: "POST" });
    expect(unknown.status).toBe(404);
    expect((await unknown.json()).code).toBe("NOT_FOUND");
  });

  it("a client that disconnects while waiting cancels its query on PostgreSQL, and history records Cancelled", async () => {
    const marker = tag();
    const id = uuid();
    const ac = new AbortController();
    const gone = sys.api(queryPath(), { method: "POST", json: { sql: `select pg_sleep(30) /* ${marker} */`, query_id: id }, signal: ac.signal }).catch((e: unknown) => e);
    await waitUntil(async () => (await pgActive(marker)) === 1, "the sleep to run");
    ac.abort();
    await gone;
    await waitUntil(async () => (await pgActive(marker)) === 0, "PostgreSQL to stop the abandoned statement");
    await waitUntil(async () => (await historyOf(id))?.error === "Cancelled", "history to record the cancel");
    expect((await historyOf(id))?.status).toBe("error");
  });

  it("cancels an export mid-stream: the transfer is cut off, PostgreSQL stops, history says Cancelled", async () => {
    const marker = tag();
    const id = uuid();
    // Pages flow until row 100000, where the statement sleeps.
    const sql = `select i, pg_sleep(case when i = 100000 then 30 else 0 end) as s /* ${marker} */ from generate_series(1, 200000) i`;
    const res = await sys.api(`${queryPath()}?format=ndjson`, { method: "POST", json: { sql, query_id: id } });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    expect((await reader.read()).value!.byteLength).toBeGreaterThan(0);
    await waitUntil(async () => (await pgActive(marker)) === 1, "the export to reach its sleep");
    expect((await sys.api(`/api/data/queries/${id}/cancel`, { method: "POST" })).status).toBe(200);
    let error: unknown = null;
    try {
      for (let r = await reader.read(); !r.done; r = await reader.read());
    } catch (e) {
      error = e;
    }
    expect(error, "the export ends without its closing chunk").not.toBeNull();
    await waitUntil(async () => (await pgActive(marker)) === 0, "PostgreSQL to stop the cancelled export");
    await waitUntil(async () => (await historyOf(id))?.error === "Cancelled", "history to record the cancel");
  });

  it("a client that disconnects from an export cancels it on PostgreSQL", async () => {
    const marker = tag();
    const id = uuid();
    const ac = new AbortController();
    const sql = `select i, pg_sleep(case when i = 100000 then 30 else 0 end) as s /* ${marker} */ from generate_series(1, 200000) i`;
    const res = await sys.api(`${queryPath()}?format=csv`, { method: "POST", json: { sql, query_id: id }, signal: ac.signal });
    const reader = res.body!.getReader();
    await reader.read();
    await waitUntil(async () => (await pgActive(marker)) === 1, "the export to reach its sleep");
    ac.abort();
    await waitUntil(async () => (await pgActive(marker)) === 0, "PostgreSQL to stop the abandoned export");
    await waitUntil(async () => (await historyOf(id))?.error === "Cancelled", "history to record the cancel");
  });

  it("honours limit in exports of raw SQL (COPY and cursor paths) and of query_config", async () => {
    const csv = await sys.api(`${queryPath()}?format=csv`, { method: "POST", json: { sql: "select id, name from items order by id", limit: 5 } });
    expect((await csv.text()).trim().split("\r\n")).toEqual(["id,name", "1,n1", "2,n2", "3,n3", "4,n4", "5,n5"]);
    // Parameters take the cursor path (COPY takes none).
    const nd = await sys.api(`${queryPath()}?format=ndjson`, { method: "POST", json: { sql: "select id from items where id > $1 order by id", params: [10], limit: 3 } });
    expect((await nd.text()).trim().split("\n").map((l) => JSON.parse(l).id)).toEqual([11, 12, 13]);
    const big = await sys.api(`${queryPath()}?format=csv`, { method: "POST", json: { sql: "select i from generate_series(1, 100000) i", limit: 4000 } });
    expect((await big.text()).trim().split("\r\n")).toHaveLength(4001);
    const qc = await sys.api(`${queryPath()}?format=ndjson`, { method: "POST", json: { query_config: { table: "public.items", select: ["id"], order_by: [{ column: "id" }] }, limit: 2 } });
    expect((await qc.text()).trim().split("\n")).toHaveLength(2);
    // A file source's export too.
    const form = new FormData();
    form.append("file", new Blob([`n\n${Array.from({ length: 50 }, (_, i) => i + 1).join("\n")}\n`], { type: "text/csv" }), "numbers.csv");
    const up = await sys.api("/api/data/upload", { method: "POST", body: form });
    expect(up.status).toBe(201);
    const fileId = (await up.json()).data_source.id;
    const file = await sys.api(`/api/data/sources/${fileId}/query?format=csv`, { method: "POST", json: { query_config: { select: ["n"] }, limit: 7 } });
    expect((await file.text()).trim().split("\r\n")).toHaveLength(8);
    // Without a limit an export still streams everything.
    const all = await sys.api(`${queryPath()}?format=csv`, { method: "POST", json: { sql: "select id from items" } });
    expect((await all.text()).trim().split("\r\n")).toHaveLength(501);
  });

  it("an export failing after its first bytes ends without its closing chunk, is recorded, and is logged as one JSON line", async () => {
    const printed = vi.spyOn(console, "error");
    try {
      for (const format of ["csv", "ndjson"] as const) {
        const id = uuid();
        const res = await sys.api(`${queryPath()}?format=${format}`, { method: "POST", json: { sql: "select i, 1 / (150000 - i) as x from generate_series(1, 200000) i", query_id: id } });
        expect(res.status).toBe(200);
        const { text, error } = await readAll(res);
        expect(text.length, format).toBeGreaterThan(0);
        expect(error, `${format}: the transfer is reported incomplete`).not.toBeNull();
        await waitUntil(async () => (await historyOf(id))?.status === "error", "history to record the failure");
        expect((await historyOf(id))?.error).toMatch(/division by zero/);
        // The failure's own line (the query line of every query carries the id too, without an error code).
        const failureLines = () => logLines.filter((l) => l.includes(id) && (JSON.parse(l) as { code?: string }).code !== undefined);
        await waitUntil(async () => failureLines().length > 0, "the failure to be logged");
        const lines = failureLines();
        expect(lines, "one log line").toHaveLength(1);
        expect(JSON.parse(lines[0]!)).toMatchObject({ query_id: id, code: "QUERY_FAILED", error: expect.stringMatching(/division by zero/) });
      }
      expect(printed).not.toHaveBeenCalled();
    } finally {
      printed.mockRestore();
    }
  });
});

describe("query lifecycle on MariaDB", () => {
  let sys: RunningSystem;
  let my: Awaited<ReturnType<typeof createMysqlSource>>;
  let root: mysql.Connection;
  let sourceId: string;
  const running = async (marker: string) =>
    Number(((await root.query("select count(*) as n from information_schema.processlist where info like ? and id <> connection_id()", [`%${marker}%`]))[0] as { n: number }[])[0]!.n);

  beforeAll(async () => {
    sys = await startTestSystem();
    my = await createMysqlSource(["create table t (id int primary key)"]);
    root = await mysql.createConnection({ socketPath: MARIADB_SOCKET, user: "root" });
    const res = await sys.api("/api/data/database/connect", { method: "POST", json: { type: "mysql", host: "127.0.0.1", database: my.database, username: my.user, password: my.password, name: "my" } });
    sourceId = (await res.json()).data_source.id;
  });
  afterAll(async () => {
    await sys?.stop();
    await root?.end();
    await my?.drop();
  });

  it("cancel by id and a client disconnect each stop the statement (processlist)", async () => {
    await cancelAndDisconnect(sys, sourceId, (marker) => `select sleep(30) /* ${marker} */`, running, "MariaDB");
  });

  it("a query over its timeout is still a 504 TIMEOUT, not a cancel", async () => {
    const res = await sys.api(`/api/data/sources/${sourceId}/query`, { method: "POST", json: { sql: "select sleep(30)", timeout_ms: 500 } });
    expect(res.status).toBe(504);
    expect((await res.json()).code).toBe("TIMEOUT");
  });
});

const haveClickhouse = await clickhouseUp();
if (!haveClickhouse) skipped("clickhouse lifecycle", "no server on 127.0.0.1:8123 (bash .ci/clickhouse.sh starts one)");

describe.runIf(haveClickhouse)("query lifecycle on ClickHouse", () => {
  let sys: RunningSystem;
  let sourceId: string;
  const running = async (marker: string) =>
    Number((await clickhouseExec(`select count() from system.processes where query like '%${marker}%' and query not like '%system.processes%'`)).trim());
  // sleep() ignores cancellation; counting checks for KILL between blocks.
  const longSql = (marker: string) => `select count() /* ${marker} */ from (select number from system.numbers limit 100000000000)`;

  beforeAll(async () => {
    sys = await startTestSystem();
    const res = await sys.api("/api/data/database/connect", { method: "POST", json: { type: "clickhouse", host: "127.0.0.1", database: "default", name: "ch" } });
    sourceId = (await res.json()).data_source.id;
  });
  afterAll(async () => { await sys?.stop(); });

  it("cancel by id and a client disconnect each stop the query (system.processes)", async () => {
    await cancelAndDisconnect(sys, sourceId, longSql, running, "ClickHouse");
  });
});

/**
 * Snowflake and BigQuery have no server here: their stand-ins (the real SDKs speak to them)
 * hold a long statement open until Snowflake's abort-request / BigQuery's jobs.cancel arrives.
 * "Running" is: the statement reached the stand-in and no stop request came after it.
 */
describe("query lifecycle on the Snowflake and BigQuery stand-ins", () => {
  let sys: RunningSystem;
  let snowflake: SnowflakeStandIn;
  let bigquery: BigqueryStandIn;
  /** A service-account key whose public half the BigQuery stand-in checks tokens with. */
  let bigqueryKey: string;
  beforeAll(async () => {
    // Embedded: the cancel path is the same in both modes (PostgreSQL runs in both above), and the first load of an
    // SDK on a machine this busy once outlasted the connector's NATS heartbeat window (a 503 on connect).
    sys = await startTestSystem({ mode: "embedded" });
    snowflake = await startSnowflakeStandIn({ user: "DSB_READER", password: "correct-horse-battery" });
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    bigquery = await startBigqueryStandIn({ publicKey, project: "dsb-lc", dataset: "dsb_suite" });
    bigqueryKey = JSON.stringify({
      type: "service_account", project_id: "dsb-lc", private_key_id: "k1", client_email: "reader@dsb-lc.iam.gserviceaccount.com",
      private_key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(), token_uri: "https://oauth2.googleapis.com/token",
    });
  });
  afterAll(async () => {
    await sys?.stop();
    await snowflake?.close();
    await bigquery?.close();
  });

  /** A `running(marker)` over a stand-in's statements and its count of stop requests. */
  const runningOn = (statements: () => string[], stops: () => number) => {
    const stopsWhenSeen = new Map<string, number>();
    return async (marker: string) => {
      if (!stopsWhenSeen.has(marker)) {
        if (!statements().some((x) => x.includes(marker))) return 0;
        stopsWhenSeen.set(marker, stops());
      }
      return stops() > stopsWhenSeen.get(marker)! ? 0 : 1;
    };
  };
  const connect = async (json: Record<string, unknown>) => {
    const res = await sys.api("/api/data/database/connect", { method: "POST", json });
    expect(res.status).toBe(201);
    return (await res.json()).data_source.id as string;
  };

  it("Snowflake: cancel by id and a client disconnect each send abort-request for the running statement", async () => {
    const id = await connect({ type: "snowflake", account: "dsbtest", username: "DSB_READER", password: "correct-horse-battery", database: "DSB", access_url: snowflake.url, name: "sf" });
    await cancelAndDisconnect(sys, id, (marker) => `SELECT SYSTEM$WAIT(30) /* ${marker} */`,
      runningOn(() => snowflake.statements, () => snowflake.aborts.length), "Snowflake");
  });

  it("BigQuery: cancel by id and a client disconnect each call jobs.cancel for the running job", async () => {
    const id = await connect({ type: "bigquery", project_id: "dsb-lc", credentials: bigqueryKey, api_endpoint: bigquery.url, name: "bq" });
    await cancelAndDisconnect(sys, id,
      (marker) => `SELECT COUNT(*) FROM UNNEST(GENERATE_ARRAY(1, 200000)) a, UNNEST(GENERATE_ARRAY(1, 200000)) b WHERE MOD(a * b, 7) = 3 /* ${marker} */`,
      runningOn(() => bigquery.statements.filter((x) => !x.dryRun).map((x) => x.sql), () => bigquery.cancelled.length), "BigQuery");
  });
});
