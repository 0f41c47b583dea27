/**
 * Health monitoring and source management through the gateway, embedded and (with
 * TEST_NATS_URL and TEST_DATABASE_URL) distributed, against a PostgreSQL cluster of
 * this file's own that it stops and starts. Intervals are shortened by env.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PrivatePostgres } from "../support/pg-cluster.ts";
import { StallProxy } from "../support/stall-proxy.ts";
import { startTestSystem, ENCRYPTION_KEY, type RunningSystem } from "../support/system.ts";
import { pythonCredentials } from "../support/catalog/python.ts";

const MODES = ["embedded", ...(process.env.TEST_NATS_URL && process.env.TEST_DATABASE_URL ? ["distributed" as const] : [])] as const;
const BACKOFF_BASE_S = 0.6;
const BACKOFF_MAX_S = 2.4;
const CHECK_TIMEOUT_MS = 3000;
const HEALTH_ENV = {
  HEALTH_CHECK_INTERVAL_S: "0.5", HEALTH_BACKOFF_BASE_S: String(BACKOFF_BASE_S), HEALTH_BACKOFF_MAX_S: String(BACKOFF_MAX_S),
  HEALTH_CHECK_TIMEOUT_MS: String(CHECK_TIMEOUT_MS),
};

interface Health { status: string; checked_at: string | null; last_success_at: string | null; latency_ms: number | null;
  error: { code: string; message: string } | null; consecutive_failures: number; next_check_at: string | null }

async function until<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 30_000, everyMs = 40): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

describe.each(MODES)("health and managing sources (%s)", (mode) => {
  let sys: RunningSystem;
  let db: PrivatePostgres;
  const pw = { v1: "Rot8-first-S3cret", v2: "Rot8-second-S3cret" };
  const config = (password: string) => ({ type: "postgresql", host: "127.0.0.1", port: db.port, database: "postgres", username: "app", password });

  const health = async (id: string): Promise<{ health: Health; checks: { status: string; error: unknown; checked_at: string }[] }> => {
    const res = await sys.api(`/api/data/sources/${id}/health`);
    expect(res.status).toBe(200);
    return res.json();
  };
  const connect = async (name: string, body: Record<string, unknown>): Promise<string> => {
    const res = await sys.api("/api/data/database/connect", { method: "POST", json: { ...body, name } });
    const json = await res.json();
    expect(res.status, JSON.stringify(json)).toBe(201);
    return json.data_source.id;
  };
  const query = (id: string, sql: string) => sys.api(`/api/data/sources/${id}/query`, { method: "POST", json: { sql } });

  beforeAll(async () => {
    db = await PrivatePostgres.start({ passwords: true });
    await db.exec(`create role app login password '${pw.v1}'`);
    await db.exec("create table items (id int primary key, label text)");
    await db.exec("insert into items values (1, 'one'), (2, 'two')");
    await db.exec("grant select on items to app");
    sys = await startTestSystem({ mode, env: HEALTH_ENV });
  });
  afterAll(async () => {
    await sys?.stop();
    await db?.dispose();
  });

  it("a stopped database turns degraded, then unhealthy with backoff in next_check_at, and healthy when it returns", async () => {
    const id = await connect("Watched", config(pw.v1));
    const healthy = await until("the first check", async () => { const h = (await health(id)).health; return h.status === "healthy" && h; });
    expect(healthy).toMatchObject({ consecutive_failures: 0, error: null, latency_ms: expect.any(Number), last_success_at: expect.any(String) });

    // The list carries health (a status dot costs no request); summary leaves the schema out.
    const list = await (await sys.api("/api/data/sources?summary=true")).json();
    const item = list.data_sources.find((s: { id: string }) => s.id === id);
    expect(item.health.status).toBe("healthy");
    expect(item).not.toHaveProperty("schema");
    const full = await (await sys.api("/api/data/sources")).json();
    expect(full.data_sources.find((s: { id: string }) => s.id === id).schema.tables.map((t: { name: string }) => t.name)).toContain("items");

    // Changes of status are events on the bus, one per change (not one per check).
    const events: string[] = [];
    const sub = sys.system.bus.subscribe("catalog.events.source.health", (e) => { if (e.id === id) events.push(`${e.previous}>${e.status}`); });
    await db.stopServer();
    // Every state the source goes through, sampled far more often than it changes.
    const seen = new Map<number, Health>();
    await until("unhealthy after failures in a row", async () => {
      const h = (await health(id)).health;
      if (h.consecutive_failures > 0 && !seen.has(h.consecutive_failures)) seen.set(h.consecutive_failures, h);
      return h.consecutive_failures >= 4;
    }, 60_000, 25);
    for (const n of [1, 2]) expect(seen.get(n), `failure ${n}`).toMatchObject({ status: "degraded", error: { code: "CONNECTION_FAILED" }, last_success_at: healthy.last_success_at });
    for (const n of [3, 4]) expect(seen.get(n)?.status, `failure ${n}`).toBe("unhealthy");
    // Backoff: base doubling per failure (±20 % jitter), capped.
    const delays = [1, 2, 3, 4].map((n) => Date.parse(seen.get(n)!.next_check_at!) - Date.parse(seen.get(n)!.checked_at!));
    delays.forEach((d, i) => {
      const expected = Math.min(BACKOFF_BASE_S * 2 ** i, BACKOFF_MAX_S) * 1000;
      expect(d).toBeGreaterThanOrEqual(expected * 0.8 - 5);
      expect(d).toBeLessThanOrEqual(expected * 1.2 + 5);
    });
    expect(delays[1]!).toBeGreaterThan(delays[0]!);
    expect(delays[2]!).toBeGreaterThan(delays[1]!);

    // Worst first in the tenant's overview.
    const okId = await connect("Steady", { type: "postgresql", host: "127.0.0.1", port: 5432, database: "postgres", username: "postgres" });
    await until("the second source's first check", async () => (await health(okId)).health.status === "healthy");
    const overview = await (await sys.api("/api/data/health")).json();
    expect(overview.success).toBe(true);
    expect(overview.counts.unhealthy).toBeGreaterThanOrEqual(1);
    expect(overview.sources[0]).toMatchObject({ id, name: "Watched", db_type: "postgresql", health: { status: "unhealthy" } });
    expect(overview.sources.findIndex((s: { id: string }) => s.id === okId)).toBeGreaterThan(0);

    // The stored checks, newest first: the whole story.
    const { checks } = await health(id);
    const statuses = checks.map((c) => c.status).reverse();
    const firstFailure = statuses.indexOf("degraded");
    expect(statuses.slice(firstFailure - 1, firstFailure + 4)).toEqual(["healthy", "degraded", "degraded", "unhealthy", "unhealthy"]);

    await db.startServer();
    const back = await until("healthy again", async () => { const h = (await health(id)).health; return h.status === "healthy" && h; }, 30_000);
    expect(back).toMatchObject({ consecutive_failures: 0, error: null });
    expect(Date.parse(back.last_success_at!)).toBeGreaterThan(Date.parse(healthy.last_success_at!));
    await until("the last event", async () => events.length >= 3);
    sub.unsubscribe();
    expect(events).toEqual(["healthy>degraded", "degraded>unhealthy", "unhealthy>healthy"]);
  });

  it("a source that hangs never delays the checks of the others", async () => {
    const proxy = await StallProxy.start({ host: "127.0.0.1", port: db.port });
    try {
      const hangs = await connect("Hangs", { ...config(pw.v1), port: proxy.port });
      const other = await connect("Other", config(pw.v1));
      await until("both checked", async () => (await health(hangs)).health.status === "healthy" && (await health(other)).health.status === "healthy");
      proxy.stall();
      // While the hanging source's checks wait out their timeout, the other source keeps its interval.
      // A failed check, not merely a slow one: on a loaded machine an answer over degradedMs is `degraded` without an error.
      const t = await until("a timed-out check", async () => (await health(hangs)).checks.find((c) => c.error), 30_000);
      expect(t.error).toMatchObject({ code: expect.stringMatching(/TIMEOUT|CONNECTION_FAILED/) });
      // Checks of the other source stored while the hanging one waited: none if checks ran one after another.
      const hungFrom = Date.parse(t.checked_at) - CHECK_TIMEOUT_MS;
      const during = (await health(other)).checks.filter((c) => Date.parse(c.checked_at) > hungFrom && Date.parse(c.checked_at) < Date.parse(t.checked_at));
      expect(during.length).toBeGreaterThanOrEqual(1);
      expect(during.every((c) => c.error === null)).toBe(true);
    } finally {
      await proxy.close();
    }
  });

  it("POST /sources/{id}/test re-tests a stored source and updates its health", async () => {
    const id = await connect("Tested", config(pw.v1));
    const body = await (await sys.api(`/api/data/sources/${id}/test`, { method: "POST" })).json();
    expect(body).toMatchObject({ success: true, message: expect.any(String), latency_ms: expect.any(Number), server_version: expect.stringMatching(/PostgreSQL/), health: { status: "healthy" } });
    const { checks } = await health(id);
    expect(Date.parse(checks[0]!.checked_at)).toBeGreaterThanOrEqual(Date.parse(body.health.checked_at) - 1);
    const files = await sys.api("/api/data/sources/nope/test", { method: "POST" });
    expect(files.status).toBe(404);
  });

  it("PATCH: a wrong password changes nothing; a rotated one is used at once, even by a replica that had the old pool open", async () => {
    const id = await connect("Rotating", config(pw.v1));
    expect((await query(id, "select current_user as u")).status).toBe(200); // the pool is open now
    const before = (await (await sys.api(`/api/data/sources/${id}`)).json()).data_source;

    await db.exec(`alter role app password '${pw.v2}'`); // the pool's sessions live on
    const wrong = await sys.api(`/api/data/sources/${id}`, { method: "PATCH", json: { password: "not-the-password", name: "Renamed too" } });
    expect(wrong.status).toBe(422);
    const wrongBody = await wrong.json();
    expect(wrongBody).toMatchObject({ success: false, code: "CONNECTION_FAILED" });
    expect(JSON.stringify(wrongBody)).not.toContain("not-the-password");
    const unchanged = (await (await sys.api(`/api/data/sources/${id}`)).json()).data_source;
    expect(unchanged).toMatchObject({ name: "Rotating", updated_at: before.updated_at, connection_config: before.connection_config });

    // Another user of the tenant may not change it.
    const other = await sys.api(`/api/data/sources/${id}`, { method: "PATCH", json: { name: "Mine now" }, as: { user: "u2" } });
    expect(other.status).toBe(403);

    const res = await sys.api(`/api/data/sources/${id}`, { method: "PATCH", json: { password: pw.v2 } });
    const patched = await res.json();
    expect(res.status, JSON.stringify(patched)).toBe(200);
    expect(patched.data_source.connection_config.password).toBe("********");
    expect(patched.warnings).toEqual([]); // app is no superuser
    expect(JSON.stringify(patched)).not.toContain(pw.v2);
    // Old sessions cut: an old pool would log in again with the old password and fail.
    await db.exec("select pg_terminate_backend(pid) from pg_stat_activity where usename = 'app'");
    for (let i = 0; i < 3; i++) {
      const r = await query(id, "select count(*) as n from items");
      expect(r.status, await r.clone().text()).toBe(200);
    }
    // History survives the change.
    const hist = await (await sys.api(`/api/data/sources/${id}/queries`)).json();
    expect(hist.queries.length).toBeGreaterThanOrEqual(4);

    if (mode === "distributed") {
      // Stored as the Python system stores it: Fernet with the markers, and it opens there.
      const c = new pg.Client({ connectionString: sys.env.DATABASE_URL });
      await c.connect();
      const row = (await c.query("select connection_config from data_sources where id = $1", [id])).rows[0].connection_config;
      await c.end();
      expect(row.__enc_password).toBe(true);
      expect(row.password).toMatch(/^gAAAA/);
      expect((await pythonCredentials("decrypt", ENCRYPTION_KEY, row)).password).toBe(pw.v2);
    }
  });

  it("PATCH: rename, settings, secrets sent back redacted keep their value, files take a name only", async () => {
    await db.exec(`alter role app password '${pw.v2}'`); // as the rotation above left it, when run alone
    const id = await connect("Settings", config(pw.v2));
    const src = (await (await sys.api(`/api/data/sources/${id}`)).json()).data_source;
    // The client sends back the redacted config it was given, with one change.
    const res = await sys.api(`/api/data/sources/${id}`, { method: "PATCH", json: {
      ...src.connection_config, name: "Settings renamed", allow_writes: true, cache_ttl_seconds: 60, health_check: { enabled: false },
    } });
    const body = await res.json();
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.data_source).toMatchObject({ name: "Settings renamed", cache_ttl_seconds: 60, health_check: { enabled: false, interval_seconds: null },
      connection_config: { allow_writes: true, password: "********" } });
    expect((await query(id, "select 1 as one")).status).toBe(200); // the stored password is still the right one
    const bad = await sys.api(`/api/data/sources/${id}`, { method: "PATCH", json: { health_check: { interval_seconds: 1 } } });
    expect(bad.status).toBe(400);
    const typeChange = await sys.api(`/api/data/sources/${id}`, { method: "PATCH", json: { type: "mysql" } });
    expect(typeChange.status).toBe(400);
    expect((await sys.api(`/api/data/sources/${id}`, { method: "PATCH", json: { name: "bad\u0000name" } })).status).toBe(400);

    const form = new FormData();
    form.set("file", new Blob(["a,b\n1,2\n"], { type: "text/csv" }), "tiny.csv");
    const file = (await (await sys.api("/api/data/upload", { method: "POST", body: form })).json()).data_source;
    const renamed = await sys.api(`/api/data/sources/${file.id}`, { method: "PATCH", json: { name: "Tiny file" } });
    expect(renamed.status).toBe(200);
    expect((await renamed.json()).data_source).toMatchObject({ name: "Tiny file", type: "file" });
    expect(file).not.toHaveProperty("health");
    const fileConfig = await sys.api(`/api/data/sources/${file.id}`, { method: "PATCH", json: { host: "x" } });
    expect(fileConfig.status).toBe(400);
  });
});
