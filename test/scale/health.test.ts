/**
 * Health monitoring and source changes with real processes on a private nats-server:
 * gateway ×1, catalog ×2 (one holds the scheduler lease), connector ×2, ingestion ×1,
 * against a PostgreSQL cluster of this file's own (password logins).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Kvm } from "@nats-io/kv";
import { PrivatePostgres } from "../support/pg-cluster.ts";
import { Cluster, waitFor, type ReplicaStats } from "../support/cluster.ts";

const INTERVAL_MS = 1000;
const CHECK_ENDPOINT = "connector_health_check";
const PW1 = "Scale-first-S3cret";
const PW2 = "Scale-second-S3cret";

let cluster: Cluster;
let db: PrivatePostgres;
let id: string;

interface Check { checked_at: string; status: string; error: unknown }
const checks = async (): Promise<Check[]> => (await (await cluster.api(`/api/data/sources/${id}/health`)).json()).checks;
const healthStatus = async (): Promise<string> => (await (await cluster.api(`/api/data/sources/${id}/health`)).json()).health.status;
/** `$SRV` stats of every live connector (asked again until each has answered: a busy replica may answer late). */
async function connectorStats(): Promise<ReplicaStats[]> {
  const live = cluster.replicas.filter((r) => r.service === "connector" && r.proc.exitCode === null && r.proc.signalCode === null).length;
  let stats: ReplicaStats[] = [];
  await waitFor(async () => (stats = await cluster.stats("connector", live)).length === live, 30_000, "every connector's stats");
  return stats;
}
const checksServed = async (): Promise<number> => (await connectorStats()).reduce((n, r) => n + (r.endpoints[CHECK_ENDPOINT] ?? 0), 0);
const query = (sql: string) => cluster.api(`/api/data/sources/${id}/query`, { method: "POST", json: { sql } });

/** Waits for `n` checks stored after `since`; returns them oldest first. */
async function checksAfter(since: number, n: number): Promise<Check[]> {
  let found: Check[] = [];
  await waitFor(async () => (found = (await checks()).filter((c) => Date.parse(c.checked_at) > since).reverse()).length >= n, 60_000, `${n} checks`);
  return found;
}

beforeAll(async () => {
  db = await PrivatePostgres.start({ passwords: true });
  await db.exec(`create role app login password '${PW1}'`);
  await db.exec("create table items (id int primary key)");
  await db.exec("insert into items values (1), (2), (3)");
  await db.exec("grant select on items to app");
  cluster = await Cluster.start({ counts: { catalog: 2, connector: 2 }, env: {
    HEALTH_CHECK_INTERVAL_S: String(INTERVAL_MS / 1000), HEALTH_LEASE_TTL_S: "2", HEALTH_CHECK_TIMEOUT_MS: "2000", HEALTH_BACKOFF_BASE_S: "0.5",
  } });
  const res = await cluster.api("/api/data/database/connect", { method: "POST", json: {
    type: "postgresql", host: "127.0.0.1", port: db.port, database: "postgres", username: "app", password: PW1, name: "Watched" } });
  const body = await res.json();
  expect(res.status, JSON.stringify(body)).toBe(201);
  id = body.data_source.id;
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
  await db?.dispose();
});

describe("health and source changes across replicas", () => {
  it("a PATCHed password is used at once by every connector replica that had the old pool open", async () => {
    for (let i = 0; i < 16; i++) expect((await query("select count(*) as n from items")).status).toBe(200);
    const served = await connectorStats();
    expect(served.filter((r) => (r.endpoints.connector_query ?? 0) > 0).length, "both connectors hold a pool").toBe(2);

    await db.exec(`alter role app password '${PW2}'`); // their sessions live on
    const wrong = await cluster.api(`/api/data/sources/${id}`, { method: "PATCH", json: { password: "wrong-one" } });
    expect(wrong.status).toBe(422);
    expect((await query("select 1 as one")).status).toBe(200); // nothing changed: the old pools still serve
    const ok = await cluster.api(`/api/data/sources/${id}`, { method: "PATCH", json: { password: PW2 } });
    expect(ok.status, await ok.clone().text()).toBe(200);

    // Old sessions cut: a pool of the old config would log in with the old password and fail.
    await db.exec("select pg_terminate_backend(pid) from pg_stat_activity where usename = 'app'");
    for (let i = 0; i < 16; i++) {
      const r = await query("select count(*) as n from items");
      expect(r.status, await r.clone().text()).toBe(200);
    }
  });

  it("checks each source once per interval, not once per replica; a dead connector or scheduler does not stop the checks", async () => {
    const start = Date.now();
    const servedBefore = await checksServed();
    const seen = await checksAfter(start, 6);
    const servedAfter = await checksServed();
    // One check per interval: a check is scheduled an interval after the previous one was stored.
    const gaps = seen.slice(1).map((c, i) => Date.parse(c.checked_at) - Date.parse(seen[i]!.checked_at));
    for (const g of gaps) expect(g).toBeGreaterThanOrEqual(INTERVAL_MS * 0.9);
    expect(seen.every((c) => c.status === "healthy")).toBe(true);
    // Every check the connectors ran was stored: none ran twice out of sight.
    expect(servedAfter - servedBefore).toBeLessThanOrEqual(seen.length + 1);

    await cluster.kill("conn1");
    const afterConnector = await checksAfter(Date.now(), 3);
    expect(afterConnector.every((c) => c.status === "healthy")).toBe(true);

    const kv = await new Kvm(cluster.nc).open("dsb-health");
    const holder = new TextDecoder().decode((await kv.get("scheduler"))!.value);
    expect(["catalog1", "catalog2"]).toContain(holder);
    await cluster.kill(holder);
    const afterScheduler = await checksAfter(Date.now(), 3);
    expect(afterScheduler.every((c) => c.status === "healthy")).toBe(true);
    expect(await healthStatus()).toBe("healthy");
    const next = new TextDecoder().decode((await kv.get("scheduler"))!.value);
    expect(next).not.toBe(holder);
  });
});
