/**
 * The catalog's PostgreSQL restarted (fast, immediate) and stopped for 10 s under query load, with
 * the system as separate processes (gateway, catalog, connector, ingestion; bundles of
 * scripts/build.mjs) and the catalog on a private PostgreSQL cluster. The catalog process must
 * live through all of it, the gateway answer 503 UNAVAILABLE (never 500) while the database is
 * away and work again after without any restart, and every answered query reach the history
 * once. Waits are generous bounds that only prove "no hang".
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PrivatePostgres } from "../support/pg-cluster.ts";
import { answeredMore, eventually, historyAgainst, metricSum, runQueries, type Api } from "../support/load.ts";
import { Cluster } from "../support/cluster.ts";

let pgc: PrivatePostgres;
let cluster: Cluster;
let sourceId: string;

const catalogAlive = () => {
  const p = cluster.replica("catalog1").proc;
  return p.exitCode === null && p.signalCode === null;
};
const api: Api = (path, init) => cluster.api(path, init);
const listSources = () => api("/api/data/sources");

beforeAll(async () => {
  pgc = await PrivatePostgres.start();
  cluster = await Cluster.start({ env: { DATABASE_URL: pgc.url } });
  // The data source is the machine's PostgreSQL (not restarted here); only the catalog's goes away.
  const res = await cluster.api("/api/data/database/connect", {
    method: "POST", json: { type: "postgres", name: "restart", host: "127.0.0.1", port: 5432, database: "postgres", username: "postgres", password: "unused-trust-auth" },
  });
  expect(res.status, await res.clone().text()).toBe(201);
  sourceId = ((await res.json()) as { data_source: { id: string } }).data_source.id;
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
  await pgc?.dispose();
});

describe("the catalog's PostgreSQL goes away under load", () => {
  it("restart -m fast, restart -m immediate, stop for 10 s: the catalog lives, 503 meanwhile, recovery after, every answered query recorded once", async () => {
    // Queries plus a catalog read per round, so sessions are checked out when the server goes.
    const load = runQueries(api, sourceId, { workers: 4, also: listSources });
    try {
      await answeredMore(load, 50, 30_000);
      for (const mode of ["fast", "immediate"] as const) {
        await pgc.restart(mode);
        await answeredMore(load, 50, 60_000);
        expect(catalogAlive(), `catalog after restart -m ${mode}:\n${cluster.logs()}`).toBe(true);
      }

      await pgc.stopServer("fast");
      const stoppedAt = Date.now();
      let away: Response | null = null;
      await eventually(async () => (away = await listSources()).status !== 200, 30_000, "the catalog to report its database away");
      expect(away!.status).toBe(503);
      expect(await away!.json()).toMatchObject({ success: false, code: "UNAVAILABLE" });
      await new Promise((r) => setTimeout(r, Math.max(0, 10_000 - (Date.now() - stoppedAt))));
      expect((await listSources()).status).toBe(503);
      await pgc.startServer();
      await eventually(async () => (await listSources()).status === 200, 60_000, "the catalog to answer again");
      await answeredMore(load, 50, 60_000);
    } finally {
      await load.stop();
    }
    expect(catalogAlive(), cluster.logs()).toBe(true);
    expect(load.statuses.get(503)).toBeGreaterThan(0);
    expect([...load.statuses.keys()].filter((s) => s !== 200 && s !== 503), JSON.stringify([...load.codes])).toEqual([]);
    expect([...load.codes.keys()]).toEqual(["UNAVAILABLE"]);

    const { missing, duplicated } = await historyAgainst(api, sourceId, load.answered, 30_000);
    expect(missing, `of ${load.answered.length} answered\n${cluster.logs()}`).toEqual([]);
    expect(duplicated).toEqual([]);
    const metrics = await (await fetch(`${cluster.url}/metrics`)).text();
    expect(metricSum(metrics, "ds_history_dropped_total")).toBe(0);
  }, 300_000);
});
