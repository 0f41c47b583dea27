/**
 * Issue 12, items 2 and 3, end to end through the gateway on real servers:
 * read-only mode holds on a superuser login (PostgreSQL `postgres`, a MariaDB
 * user with FILE and SUPER), through JSON queries and CSV export alike, and
 * session state one user sets never reaches another user's queries.
 */
import { existsSync, rmSync } from "node:fs";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { skipped } from "@dsb/runtime/testing";
import { startTestSystem, type RunningSystem } from "../support/system.ts";
import { clickhouseUp, createMysqlSource, createPgSource, MARIADB_SOCKET } from "../support/peers.ts";

let sys: RunningSystem;
beforeAll(async () => { sys = await startTestSystem(); });
afterAll(async () => { await sys?.stop(); });

const tag = Math.random().toString(36).slice(2, 8);
const MARKER = `/tmp/dsb-e2e-readonly-${tag}`;
afterAll(() => rmSync(MARKER, { force: true }));

const post = async (path: string, json: unknown, as?: { user: string }) => {
  const res = await sys.api(path, { method: "POST", json, ...(as ? { as } : {}) });
  return { status: res.status, body: await res.json() };
};
const query = (id: string, json: Record<string, unknown>, as?: { user: string }) => post(`/api/data/sources/${id}/query`, json, as);

/** Every attack: refused with 422 QUERY_FAILED and a sentence naming read-only mode, and recorded in the history. */
async function expectRefused(id: string, sqls: string[], opts: { csv?: boolean } = {}) {
  for (const sql of sqls) {
    const res = opts.csv
      ? await sys.api(`/api/data/sources/${id}/query?format=csv`, { method: "POST", json: { sql } })
      : await sys.api(`/api/data/sources/${id}/query`, { method: "POST", json: { sql } });
    const body = await res.json();
    expect(res.status, sql).toBe(422);
    expect(body, sql).toMatchObject({ success: false, code: "QUERY_FAILED", error: expect.stringMatching(/^Read-only query refused: .*Read-only mode runs only statements that read data/) });
  }
  const hist = await (await sys.api(`/api/data/sources/${id}/queries?limit=200`)).json();
  for (const sql of sqls)
    expect(hist.queries.find((q: { query: string }) => q.query === sql), sql).toMatchObject({ status: "error", error: expect.stringMatching(/^Read-only query refused/) });
}

describe("PostgreSQL through the gateway, superuser login", () => {
  let src: Awaited<ReturnType<typeof createPgSource>>;
  let readOnlyId: string;
  let writableId: string;
  const low = `dsb_e2e_low_${tag}`;
  const config = () => ({ type: "postgresql", host: "127.0.0.1", port: 5432, database: src.database, username: "postgres", password: "unused-under-trust" });
  const largeObjects = async () => Number((await src.exec("select count(*) as n from pg_largeobject_metadata")).rows[0].n);

  beforeAll(async () => {
    src = await createPgSource([
      "create table orders (id int primary key, amount numeric(10,2))",
      "insert into orders values (1, 10.5), (2, 3), (3, 7)",
      `create role ${low}`,
    ]);
  });
  afterAll(async () => {
    await src?.exec(`drop role if exists ${low}`).catch(() => undefined);
    await src?.drop();
  });

  it("test and connect answer with a SUPERUSER_LOGIN warning", async () => {
    const t = await post("/api/data/database/test", config());
    expect(t.body).toMatchObject({ success: true, warnings: [{ code: "SUPERUSER_LOGIN", message: expect.stringMatching(/superuser.*only SELECT/) }] });
    const c = await post("/api/data/database/connect", { ...config(), name: "Superuser PG" });
    expect(c.status).toBe(201);
    expect(c.body.warnings).toEqual([expect.objectContaining({ code: "SUPERUSER_LOGIN" })]);
    readOnlyId = c.body.data_source.id;
    const w = await post("/api/data/database/connect", { ...config(), name: "Writable PG", allow_writes: true });
    writableId = w.body.data_source.id;
  });

  const attacks = [
    `copy (select 1) to program 'touch ${MARKER}'`,
    `copy orders to '${MARKER}'`,
    "select lo_import('/etc/hostname')",
    "with x as (select pg_catalog.lo_import('/etc/hostname') as id) select id from x",
    "select * from (select \"LO_IMPORT\"('/etc/hostname')) s",
    "select pg_read_file('/etc/hostname')",
    "select (x).lo_import from (select '/etc/hostname'::text x) s",
    "select (x).pg_read_file from (select '/etc/hostname'::text x) s",
    "select pg_reload_conf()",
    "select pg_terminate_backend(pid) from pg_stat_activity where pid <> pg_backend_pid()",
    "commit; drop table orders",
    "set role postgres",
    "set session authorization postgres",
    "set search_path = pg_catalog",
  ];

  it("refuses programs, server files, large objects, signals, config reloads, several statements and session changes (JSON queries); none of them happens", async () => {
    const before = await largeObjects();
    await expectRefused(readOnlyId, attacks);
    expect(existsSync(MARKER)).toBe(false);
    expect(await largeObjects()).toBe(before);
    expect((await query(readOnlyId, { sql: "select count(*)::int from orders" })).body.rows).toEqual([[3]]);
  });

  it("refuses the same on the CSV export path (COPY … TO STDOUT around the user's SQL)", async () => {
    const before = await largeObjects();
    await expectRefused(readOnlyId, attacks.map((a) => `${a} -- csv`), { csv: true });
    expect(existsSync(MARKER)).toBe(false);
    expect(await largeObjects()).toBe(before);
    const ok = await sys.api(`/api/data/sources/${readOnlyId}/query?format=csv`, { method: "POST", json: { sql: "select id from orders order by id" } });
    expect(await ok.text()).toBe("id\r\n1\r\n2\r\n3\r\n");
  });

  it("one user's `set search_path = pg_catalog` (read-write, 15 times) does not break another user's next 40 queries", async () => {
    for (let i = 0; i < 15; i++) expect((await query(writableId, { sql: "set search_path = pg_catalog", read_only: false }, { user: "mallory" })).status).toBe(200);
    const answers = await Promise.all(Array.from({ length: 40 }, () => query(writableId, { sql: "select count(*)::int from orders" }, { user: "alice" })));
    const failed = JSON.stringify(answers.filter((a) => a.status !== 200).map((a) => a.body));
    expect(answers.map((a) => a.status), failed).toEqual(Array(40).fill(200));
    expect(answers.map((a) => a.body.rows[0][0])).toEqual(Array(40).fill(3));
  });

  it("one user's SET ROLE / SET SESSION AUTHORIZATION (read-write) does not carry over to another user's next 40 queries", async () => {
    for (let i = 0; i < 8; i++) {
      expect((await query(writableId, { sql: `set role ${low}`, read_only: false }, { user: "mallory" })).status).toBe(200);
      expect((await query(writableId, { sql: `set session authorization ${low}`, read_only: false }, { user: "mallory" })).status).toBe(200);
    }
    const answers = await Promise.all(Array.from({ length: 40 }, () => query(writableId, { sql: "select current_user::text, session_user::text" }, { user: "alice" })));
    expect(answers.map((a) => a.body.rows[0].join("/"))).toEqual(Array(40).fill("postgres/postgres"));
  });
});

describe("MariaDB through the gateway, a login with FILE and SUPER", () => {
  let my: Awaited<ReturnType<typeof createMysqlSource>>;
  let root: mysql.Connection;
  const user = `dsb_e2e_ro_${tag}`;
  const password = `E2e-ro-${tag}`;
  let readOnlyId: string;
  let writableId: string;
  const config = () => ({ type: "mysql", host: "127.0.0.1", database: my.database, username: user, password });

  beforeAll(async () => {
    my = await createMysqlSource(["create table items (id int primary key)", "insert into items values (1), (2)"]);
    root = await mysql.createConnection({ socketPath: MARIADB_SOCKET, user: "root" });
    await root.query(`create user '${user}'@'127.0.0.1' identified by '${password}'`);
    await root.query(`grant file, super on *.* to '${user}'@'127.0.0.1'`);
    await root.query(`grant all on ${my.database}.* to '${user}'@'127.0.0.1'`);
  });
  afterAll(async () => {
    await root?.query(`drop user if exists '${user}'@'127.0.0.1'`).catch(() => undefined);
    await root?.end().catch(() => undefined);
    await my?.drop();
  });

  it("test and connect warn about SUPER and FILE", async () => {
    const t = await post("/api/data/database/test", config());
    expect(t.body.warnings.map((w: { code: string }) => w.code)).toEqual(["SUPERUSER_LOGIN", "SERVER_FILE_ACCESS"]);
    const c = await post("/api/data/database/connect", { ...config(), name: "Powerful MariaDB" });
    expect(c.status).toBe(201);
    expect(c.body.warnings).toHaveLength(2);
    readOnlyId = c.body.data_source.id;
    writableId = (await post("/api/data/database/connect", { ...config(), name: "Writable MariaDB", allow_writes: true })).body.data_source.id;
  });

  it("refuses LOAD_FILE (also inside an executable comment), INTO OUTFILE and session variables; no file appears", async () => {
    await expectRefused(readOnlyId, [
      "select load_file('/etc/hostname')",
      "/*!50000 select load_file('/etc/hostname')*/",
      `select 1 into outfile '${MARKER}.my'`,
      "set @@session.sql_mode = 'ANSI_QUOTES'",
      "select @x := 1",
    ]);
    expect(existsSync(`${MARKER}.my`)).toBe(false);
  });

  it("one user's session variables (read-write) do not reach another user's queries", async () => {
    for (let i = 0; i < 15; i++) expect((await query(writableId, { sql: "set @@session.sql_mode = 'ANSI_QUOTES'", read_only: false }, { user: "mallory" })).status).toBe(200);
    const answers = await Promise.all(Array.from({ length: 40 }, () => query(writableId, { sql: "select @@session.sql_mode" }, { user: "alice" })));
    for (const a of answers) expect(String(a.body.rows[0][0])).not.toContain("ANSI_QUOTES");
  });
});

const haveClickhouse = await clickhouseUp();
if (!haveClickhouse) skipped("clickhouse read-only e2e", "no server on 127.0.0.1:8123 (bash .ci/clickhouse.sh starts one)");

describe.runIf(haveClickhouse)("ClickHouse through the gateway", () => {
  it("refuses file(), url() and SYSTEM SHUTDOWN before sending them; the server is still up", async () => {
    const c = await post("/api/data/database/connect", { type: "clickhouse", host: "127.0.0.1", port: 8123, database: "default", username: "default", password: "", name: "CH" });
    expect(c.status).toBe(201);
    await expectRefused(c.body.data_source.id, [
      "select * from file('dsb.csv', CSV, 'a String')",
      "select * from url('http://127.0.0.1:8123/ping', CSV, 'x String')",
      "SYSTEM SHUTDOWN",
    ]);
    expect(await clickhouseUp()).toBe(true);
  });
});
