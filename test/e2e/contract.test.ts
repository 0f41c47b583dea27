/**
 * The contract as users meet it (issue 11: body limits, unknown config fields,
 * wrong-protocol ports, driver jargon), through the gateway in both modes.
 */
import { request as httpRequest } from "node:http";
import { createServer as createTcpServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clickhouseUp, createPgSource } from "../support/peers.ts";
import { startTestSystem, type RunningSystem } from "../support/system.ts";

/** A TCP listener that counts the connections it gets: a config pointed at it proves whether anything was dialled. */
async function tcpListener(): Promise<{ port: number; connections(): number; close(): Promise<void> }> {
  let n = 0;
  const server = createTcpServer((s) => { n++; s.destroy(); });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as { port: number }).port,
    connections: () => n,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/**
 * POSTs `total` bytes of a valid config (padded with JSON whitespace, so it would
 * be dialled at `dialPort` if it were read) with node:http, with a Content-Length
 * or chunked; resolves the status and body.
 */
function postLarge(url: string, token: string, dialPort: number, total: number, chunked: boolean): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = httpRequest({
      host: u.hostname, port: u.port, path: u.pathname, method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...(chunked ? {} : { "content-length": String(total) }) },
    }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => { body += c; });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    // The server answers before the body is read in full and may close: the answer is what counts.
    req.on("error", (e) => (req.writableEnded ? undefined : reject(e)));
    const head = `{"type":"postgresql","host":"127.0.0.1","port":${dialPort},"database":"x","username":"u","password":"p"`;
    const chunk = Buffer.alloc(64 * 1024, " ");
    let sent = 0;
    let answered = false;
    const write = () => {
      if (sent === 0) { req.write(head); sent += head.length; }
      while (sent < total - 2) {
        if (answered) return void req.end();
        const n = Math.min(chunk.length, total - 2 - sent);
        sent += n;
        if (!req.write(chunk.subarray(0, n))) { req.once("drain", write); return; }
      }
      req.end(" }");
    };
    req.on("response", () => { answered = true; });
    write();
  });
}

const haveClickhouse = await clickhouseUp();

for (const mode of ["embedded", "distributed"] as const) {
  const haveNats = !!process.env.TEST_NATS_URL;
  describe.runIf(mode === "embedded" || haveNats)(`contract (${mode})`, () => {
    let sys: RunningSystem;
    let listener: Awaited<ReturnType<typeof tcpListener>>;
    beforeAll(async () => {
      sys = await startTestSystem({ mode });
      listener = await tcpListener();
    }, 120_000);
    afterAll(async () => {
      await listener?.close();
      await sys?.stop();
    });
    const post = async (path: string, json: unknown) => {
      const res = await sys.api(path, { method: "POST", json });
      return { status: res.status, body: await res.json() };
    };
    const dialled = { type: "postgresql", host: "127.0.0.1", database: "x", username: "u", password: "p" };

    describe("request bodies over MAX_BODY_BYTES", () => {
      it("a 32 MB body with a Content-Length is 413 PAYLOAD_TOO_LARGE and nothing is dialled", async () => {
        const before = listener.connections();
        const r = await postLarge(`${sys.url}/api/data/database/test`, await sys.token(), listener.port, 32 * 1024 * 1024, false);
        expect(r.status).toBe(413);
        expect(JSON.parse(r.body)).toMatchObject({ success: false, code: "PAYLOAD_TOO_LARGE", error: expect.stringContaining("MAX_BODY_BYTES") });
        expect(listener.connections()).toBe(before);
      });

      it("a chunked body (no Content-Length) is cut off at the limit: 413, nothing dialled", async () => {
        const before = listener.connections();
        const r = await postLarge(`${sys.url}/api/data/database/test`, await sys.token(), listener.port, 32 * 1024 * 1024, true);
        expect(r.status).toBe(413);
        expect(JSON.parse(r.body)).toMatchObject({ success: false, code: "PAYLOAD_TOO_LARGE" });
        expect(listener.connections()).toBe(before);
      });

      it("a body under the limit is read as usual (and dials)", async () => {
        const before = listener.connections();
        const r = await post("/api/data/database/test", { ...dialled, port: listener.port, password: "x".repeat(1000) });
        expect(r.status).toBe(200);
        expect(r.body.success).toBe(false);
        expect(listener.connections()).toBeGreaterThan(before);
      });
    });

    describe("database configs", () => {
      it("an unknown field is a 400 naming it and the closest known field, before any dial", async () => {
        const before = listener.connections();
        const { password: _p, ...rest } = dialled;
        const r = await post("/api/data/database/test", { ...rest, port: listener.port, passwrd: "secret-typo-1" });
        expect(r.status).toBe(400);
        expect(r.body.code).toBe("VALIDATION");
        expect(r.body.error).toContain('"passwrd" (did you mean "password"?)');
        expect(r.body.error).not.toContain("secret-typo-1");
        const c = await post("/api/data/database/connect", { ...dialled, port: listener.port, hostname: "db", ssl: { mod: "require" } });
        expect(c.status).toBe(400);
        expect(c.body.error).toMatch(/"hostname" \(did you mean "host"\?\).*"ssl\.mod" \(did you mean "ssl\.mode"\?\)/);
        expect(listener.connections()).toBe(before);
      });

      it("a name longer than 200 characters is refused before any dial; a blank one gets the default name", async () => {
        const before = listener.connections();
        const r = await post("/api/data/database/connect", { ...dialled, port: listener.port, name: "n".repeat(201) });
        expect(r.status).toBe(400);
        expect(r.body).toMatchObject({ code: "VALIDATION", error: expect.stringContaining("name is at most 200 characters") });
        expect(listener.connections()).toBe(before);
        const blank = await post("/api/data/database/connect", { ...dialled, port: listener.port, name: "  " });
        expect(blank.body.code).toBe("CONNECTION_FAILED"); // it went on to dial
      });
    });

    it("a PostgreSQL table never analysed shows its row count and total_rows counts it", async () => {
      const src = await createPgSource(["create table never_analysed (id int primary key, v text)", "insert into never_analysed select g, 'v' || g from generate_series(1, 500) g"]);
      try {
        // The inserting session reports its statistics within seconds; before that the size estimate answers.
        for (let i = 0; i < 150; i++) {
          const n = (await src.exec("select pg_stat_get_live_tuples('never_analysed'::regclass) as n")).rows[0].n;
          if (Number(n) === 500) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        expect(Number((await src.exec("select reltuples from pg_class where relname = 'never_analysed'")).rows[0].reltuples)).toBeLessThanOrEqual(0);
        const c = await post("/api/data/database/connect", { type: "postgresql", host: "127.0.0.1", port: 5432, database: src.database, username: "postgres", name: "rows" });
        expect(c.status).toBe(201);
        const table = c.body.data_source.schema.tables.find((t: { name: string }) => t.name === "never_analysed");
        expect(table.rowCount).toBe(500);
        expect(c.body.data_source.schema.total_rows).toBe(500);
        const refreshed = await (await sys.api(`/api/data/sources/${c.body.data_source.id}/schema?refresh=true`)).json();
        expect(refreshed.schema.total_rows).toBe(500);
        // A PATCH of the config refuses a misspelt field as connect does.
        const patched = await sys.api(`/api/data/sources/${c.body.data_source.id}`, { method: "PATCH", json: { passwrd: "x" } });
        expect(patched.status).toBe(400);
        expect((await patched.json()).error).toContain('"passwrd" (did you mean "password"?)');
      } finally {
        await src.drop();
      }
    });

    it("uploads: a .json file holding one object is format json with one row; a truncated one says so", async () => {
      const upload = (text: string, name: string) => {
        const form = new FormData();
        form.append("file", new Blob([text]), name);
        return sys.api("/api/data/upload", { method: "POST", body: form });
      };
      const one = await upload('{"id": 1, "city": "Oslo"}', "one.json");
      expect(one.status).toBe(201);
      const ds = (await one.json()).data_source;
      expect(ds).toMatchObject({ format: "json", schema: { total_rows: 1 } });
      const q = await post(`/api/data/sources/${ds.id}/query`, { query_config: { aggregates: [{ fn: "count", as: "n" }] } });
      expect(q.body.rows).toEqual([[1]]);
      const cut = await upload('{"id": 1, "tags": ["a", "b"', "cut.json");
      expect(cut.status).toBe(422);
      expect(await cut.json()).toMatchObject({ code: "PARSE_FAILED", error: "The JSON file ends unexpectedly at byte 27 (truncated?); upload the complete file" });
    });

    describe("a port of another protocol is named as such", () => {
      it("a PostgreSQL config at MariaDB's port 3306", async () => {
        const r = await post("/api/data/database/test", { ...dialled, port: 3306 });
        expect(r.body).toMatchObject({ success: false, code: "CONNECTION_FAILED" });
        expect(r.body.error).toBe("The server at 127.0.0.1:3306 does not speak the PostgreSQL protocol; it looks like MySQL/MariaDB. Check the port (PostgreSQL usually listens on 5432)");
      });

      it("a MySQL config at PostgreSQL's port 5432 (a server that waits for the client) says so instead of a timeout", async () => {
        const r = await post("/api/data/database/test", { type: "mysql", host: "127.0.0.1", port: 5432, database: "x", username: "u", password: "p" });
        expect(r.body).toMatchObject({ success: false, code: "CONNECTION_FAILED" });
        expect(r.body.error).toBe("The server at 127.0.0.1:5432 does not speak the MySQL protocol; it looks like PostgreSQL. Check the port (MySQL / MariaDB usually listens on 3306)");
      });

      it("a ClickHouse config at PostgreSQL's and MariaDB's ports", async () => {
        const pg = await post("/api/data/database/test", { type: "clickhouse", host: "127.0.0.1", port: 5432 });
        expect(pg.body.error).toMatch(/^The server at 127\.0\.0\.1:5432 does not speak ClickHouse's HTTP interface; it looks like PostgreSQL/);
        const my = await post("/api/data/database/test", { type: "clickhouse", host: "127.0.0.1", port: 3306 });
        expect(my.body.error).toMatch(/^The server at 127\.0\.0\.1:3306 does not speak ClickHouse's HTTP interface; it looks like MySQL\/MariaDB/);
      });

      it.runIf(haveClickhouse)("a PostgreSQL config at ClickHouse's HTTP port 8123", async () => {
        const r = await post("/api/data/database/test", { ...dialled, port: 8123 });
        expect(r.body.error).toMatch(/^The server at 127\.0\.0\.1:8123 does not speak the PostgreSQL protocol; it looks like an HTTP server/);
      });

      it("a SQL Server config at PostgreSQL's port", async () => {
        const r = await post("/api/data/database/test", { type: "mssql", host: "127.0.0.1", port: 5432, database: "x", username: "u", password: "p", encrypt: false });
        expect(r.body.error).toBe("The server at 127.0.0.1:5432 does not speak SQL Server's protocol (TDS); it looks like PostgreSQL. Check the port (SQL Server usually listens on 1433)");
      });

      it.runIf(haveClickhouse)("a MySQL config at ClickHouse's HTTP port (silent until spoken to) says so", async () => {
        const r = await post("/api/data/database/test", { type: "mysql", host: "127.0.0.1", port: 8123, database: "x", username: "u", password: "p" });
        expect(r.body.error).toMatch(/^The server at 127\.0\.0\.1:8123 does not speak the MySQL protocol; it looks like an HTTP server/);
      });

      it("a refused port keeps the driver's own message", async () => {
        const r = await post("/api/data/database/test", { ...dialled, port: 1 });
        expect(r.body.error).toContain("Connection refused by 127.0.0.1:1");
      });
    });
  });
}
