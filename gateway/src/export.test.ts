import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { PgConnection } from "../../services/connector/src/drivers/postgresql/driver.ts";
import { startTestSystem, type RunningSystem } from "../../test/support/system.ts";
import { createPgSource } from "../../test/support/peers.ts";

/** RFC 4180 records; an unquoted empty field is null (NULL), a quoted one "". */
function parseCsv(text: string): (string | null)[][] {
  const rows: (string | null)[][] = [];
  let row: (string | null)[] = [];
  let i = 0;
  while (i < text.length) {
    let value: string | null;
    if (text[i] === '"') {
      let s = "";
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        s += text.slice(i, q);
        i = q + 1;
        if (text[i] === '"') { s += '"'; i++; } else break;
      }
      value = s;
    } else {
      let end = i;
      while (end < text.length && text[end] !== "," && text[end] !== "\r") end++;
      value = end === i ? null : text.slice(i, end);
      i = end;
    }
    row.push(value);
    if (text[i] === ",") i++;
    else if (text.startsWith("\r\n", i)) { rows.push(row); row = []; i += 2; }
    else if (i >= text.length) rows.push(row);
    else throw new Error(`bad CSV at ${i}: ${JSON.stringify(text.slice(i, i + 20))}`);
  }
  return rows;
}

/** The CSV text of a JSON value, as the row path prints it. */
const cellOf = (v: unknown) => (v === null ? null : typeof v === "string" ? v : String(v));

let sys: RunningSystem;
let src: Awaited<ReturnType<typeof createPgSource>>;
let sourceId: string;
const admin = () => new pg.Client({ connectionString: process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres" });

beforeAll(async () => {
  sys = await startTestSystem();
  src = await createPgSource([
    `create table typed (id int primary key, ts timestamp, tstz timestamptz, d date, b boolean, bin bytea, n numeric(20,6), big int8,
       f float8, t text, u uuid, iv interval, tm time)`,
    `insert into typed values
      (1, '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.5+05:30', '2024-01-02', true, '\\x48656c6c6f', 12345.678900, 9007199254740993,
       3.25, 'plain', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '1 day 02:03:04', '13:14:15'),
      (2, '1999-12-31 23:59:59', '1999-12-31 23:59:59-08', '1999-12-31', false, decode(repeat('ab', 100), 'hex'), -0.5, -1,
       -0.125, 'say "hi", then
leave', null, '-3 months', '00:00:00'),
      (3, null, null, null, null, null, null, null, null, null, null, null, null),
      (4, 'infinity', '-infinity', 'infinity', true, '', 0, 0, 0, '', null, '0', null),
      (5, '2024-06-30 12:00:00', '2024-06-30 12:00:00.000001+00', '2024-06-30', false, '\\x00ff', 1e-6, 42, 1e10, 'ümlaut €, tab	and cr' || chr(13) || 'x', null, null, null)`,
  ]);
  const res = await sys.api("/api/data/database/connect", {
    method: "POST", json: { type: "postgres", host: "127.0.0.1", port: 5432, database: src.database, username: "postgres", password: "x", name: "export test" },
  });
  const body = await res.json();
  expect(res.status, JSON.stringify(body)).toBe(201);
  sourceId = body.data_source.id;
}, 60_000);
afterAll(async () => {
  await sys?.stop();
  await src?.drop();
});

describe("CSV export straight from PostgreSQL (COPY)", () => {
  it("gives the same values as the JSON rows, the header, CRLF record ends and NULL vs empty text", async () => {
    const sql = "select * from typed order by id";
    const copy = vi.spyOn(PgConnection.prototype, "copyCsv");
    let csvText: string;
    try {
      const res = await sys.api(`/api/data/sources/${sourceId}/query`, { method: "POST", headers: { accept: "text/csv" }, json: { sql } });
      expect(res.status).toBe(200);
      csvText = await res.text();
      // The fast path ran (a describe, then COPY) rather than falling back to the cursor.
      expect(copy).toHaveBeenCalledTimes(1);
      expect(await copy.mock.results[0]!.value).not.toBeNull();
    } finally {
      copy.mockRestore();
    }
    const json = await (await sys.api(`/api/data/sources/${sourceId}/query`, { method: "POST", json: { sql } })).json();
    const [header, ...records] = parseCsv(csvText);
    expect(header).toEqual(json.columns.map((c: { name: string }) => c.name));
    expect(records).toEqual(json.rows.map((r: unknown[]) => r.map(cellOf)));
    // Spot checks of the rules themselves (API.md).
    expect(records[0]).toEqual(["1", "2024-01-02T03:04:05.123456", "2024-01-01T21:34:05.5Z", "2024-01-02", "true", "SGVsbG8=", "12345.678900",
      "9007199254740993", "3.25", "plain", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "1 day 02:03:04", "13:14:15"]);
    expect(records[1]![5]).toBe(Buffer.alloc(100, 0xab).toString("base64")); // longer than one base64 line of encode()
    expect(records[1]![9]).toBe('say "hi", then\nleave');
    expect(records[2]!.slice(1)).toEqual(Array(12).fill(null));
    expect(records[3]![9]).toBe("");
    expect(csvText.split("\r\n").length).toBe(records.length + 2); // header + records, each ending in CRLF; the quoted \n stays a \n
  });

  it("matches the row path (query with params, no COPY) value for value", async () => {
    const sql = "select * from typed where id > $1 order by id";
    const fast = await (await sys.api(`/api/data/sources/${sourceId}/query`, { method: "POST", headers: { accept: "text/csv" }, json: { sql: sql.replace("$1", "0") } })).text();
    const rows = await (await sys.api(`/api/data/sources/${sourceId}/query`, { method: "POST", headers: { accept: "text/csv" }, json: { sql, params: [0] } })).text();
    expect(parseCsv(fast)).toEqual(parseCsv(rows));
  });

  it("falls back to the row path for what COPY cannot wrap (json columns, SHOW) and for NDJSON", async () => {
    const j = await sys.api(`/api/data/sources/${sourceId}/query`, { method: "POST", headers: { accept: "text/csv" }, json: { sql: `select '{"a": [1, 2]}'::jsonb as j, 'x' as s;` } });
    expect(await j.text()).toBe('j,s\r\n"{""a"":[1,2]}",x\r\n');
    const show = await sys.api(`/api/data/sources/${sourceId}/query?format=csv`, { method: "POST", json: { sql: "show datestyle" } });
    expect(await show.text()).toMatch(/^DateStyle\r\n"?ISO/);
    const nd = await sys.api(`/api/data/sources/${sourceId}/query?format=ndjson`, { method: "POST", json: { sql: "select id, b from typed where id < 3 order by id" } });
    expect((await nd.text()).trim().split("\n").map((l) => JSON.parse(l))).toEqual([{ id: 1, b: true }, { id: 2, b: false }]);
  });

  it("cannot be talked out of the read-only transaction by statements smuggled into the wrapper", async () => {
    const attacks = [
      "select 1 as x) q; COMMIT; insert into typed (id) values (900); select * from (select 1 as x",
      "select 1 as x) q; COMMIT; insert into typed (id) values (901); --",
      "select 1 as x) q(c1)) TO STDOUT; COMMIT; insert into typed (id) values (902); COPY (select 1",
    ];
    for (const sql of attacks) {
      const res = await sys.api(`/api/data/sources/${sourceId}/query`, { method: "POST", headers: { accept: "text/csv" }, json: { sql } });
      await res.text();
      expect(res.status, sql).toBe(422);
    }
    expect((await src.exec("select count(*)::int as n from typed where id >= 900")).rows[0].n).toBe(0);
  });

  it("reports a database error before the first byte as 422", async () => {
    const res = await sys.api(`/api/data/sources/${sourceId}/query`, { method: "POST", headers: { accept: "text/csv" }, json: { sql: "select 1/0 as x" } });
    expect(res.status).toBe(422);
    expect((await res.json()).code).toBe("QUERY_FAILED");
  });

  it("stops a COPY export that produces nothing for timeout_ms with TIMEOUT, and the query is gone", async () => {
    const marker = `dsb-export-timeout-${Math.random().toString(36).slice(2, 8)}`;
    const res = await sys.api(`/api/data/sources/${sourceId}/query?format=csv`, { method: "POST", json: { sql: `select /* ${marker} */ pg_sleep(30)::text as s`, timeout_ms: 300 } });
    expect((await res.json()).code).toBe("TIMEOUT");
    const c = admin();
    await c.connect();
    try {
      let n = 1;
      for (let i = 0; i < 50 && n > 0; i++) {
        n = (await c.query("select count(*)::int as n from pg_stat_activity where query like $1 and state <> 'idle' and pid <> pg_backend_pid()", [`%${marker}%`])).rows[0].n;
        if (n) await new Promise((r) => setTimeout(r, 100));
      }
      expect(n).toBe(0);
    } finally {
      await c.end();
    }
  });

  for (const format of ["csv", "ndjson"] as const) {
    it(`cancels the query on the database when the client disconnects mid-export (${format})`, async () => {
      const marker = `dsb-export-cancel-${format}-${Math.random().toString(36).slice(2, 8)}`;
      const abort = new AbortController();
      const res = await sys.api(`/api/data/sources/${sourceId}/query?format=${format}`, {
        method: "POST", signal: abort.signal,
        // Two small series joined: rows stream at once (one big generate_series is materialised first).
        json: { sql: `select /* ${marker} */ a * 100000 + b as g, repeat('x', 200) as pad from generate_series(1, 1000) a, generate_series(1, 100000) b` },
      });
      expect(res.status).toBe(200);
      const reader = res.body!.getReader();
      await reader.read();
      const c = admin();
      await c.connect();
      const running = async () => (await c.query(
        "select count(*)::int as n from pg_stat_activity where query like $1 and state <> 'idle' and pid <> pg_backend_pid()", [`%${marker}%`])).rows[0].n as number;
      try {
        expect(await running()).toBe(1);
        abort.abort();
        await reader.cancel().catch(() => undefined);
        let n = 1;
        for (let i = 0; i < 100 && n > 0; i++) {
          n = await running();
          if (n) await new Promise((r) => setTimeout(r, 100));
        }
        expect(n).toBe(0);
      } finally {
        await c.end();
      }
    }, 30_000);
  }
});
