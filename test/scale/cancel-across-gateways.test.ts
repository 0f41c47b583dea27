/**
 * Cancel by id across gateway replicas, with real processes on a private nats-server: the query
 * runs through one gateway, the cancel arrives at the other (gateway.query.cancel reaches the
 * replica running it), and PostgreSQL stops the statement.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPgSource } from "../support/peers.ts";
import { Cluster, waitFor } from "../support/cluster.ts";

let cluster: Cluster;
let src: Awaited<ReturnType<typeof createPgSource>>;
let sourceId: string;
let gw1: string;
let gw2: string;

const tag = () => `xgw_${Math.random().toString(36).slice(2, 10)}`;
const active = async (marker: string) =>
  Number((await cluster.adminQuery("select count(*)::int as n from pg_stat_activity where state = 'active' and query like $1 and pid <> pg_backend_pid()", [`%${marker}%`])).rows[0].n);
const cancel = (id: string, via: string, user?: string) => cluster.api(`/api/data/queries/${id}/cancel`, { method: "POST", via, ...(user ? { user } : {}) });

beforeAll(async () => {
  cluster = await Cluster.start({ counts: { gateway: 2, catalog: 1, connector: 2, ingestion: 1 } });
  [gw1, gw2] = cluster.gatewayUrls as [string, string];
  src = await createPgSource(["create table t (id int)"]);
  const res = await cluster.api("/api/data/database/connect", {
    method: "POST", json: { type: "postgresql", host: "127.0.0.1", database: src.database, username: "postgres", password: "x", name: "xgw" },
  });
  expect(res.status).toBe(201);
  sourceId = (await res.json()).data_source.id;
}, 180_000);
afterAll(async () => {
  await cluster?.stop();
  await src?.drop();
});

describe("cancel across two gateway replicas", () => {
  it("a query running on gateway 1 is cancelled through gateway 2: 409 CANCELLED, PostgreSQL stops, history says Cancelled", async () => {
    const marker = tag();
    const id = crypto.randomUUID();
    const running = cluster.api(`/api/data/sources/${sourceId}/query`, { method: "POST", via: gw1, json: { sql: `select pg_sleep(30) /* ${marker} */`, query_id: id } });
    await waitFor(async () => (await active(marker)) === 1, 10_000, "the sleep to run");

    const other = await cancel(id, gw2, "someone-else");
    expect(other.status).toBe(403);
    expect((await other.json()).code).toBe("FORBIDDEN");
    expect((await cancel(crypto.randomUUID(), gw2)).status).toBe(404);

    const res = await cancel(id, gw2);
    expect(res.status).toBe(200);
    const answered = await running;
    expect(answered.status).toBe(409);
    expect((await answered.json()).code).toBe("CANCELLED");
    await waitFor(async () => (await active(marker)) === 0, 5_000, "PostgreSQL to stop the cancelled statement");
    await waitFor(async () => {
      const h = await (await cluster.api(`/api/data/sources/${sourceId}/queries`, { via: gw2 })).json();
      return h.queries.some((q: { id: string; status: string; error: string }) => q.id === id && q.status === "error" && q.error === "Cancelled");
    }, 5_000, "history to record the cancel");
  });

  it("an export streaming from gateway 2 is cut off by a cancel sent to gateway 1, and PostgreSQL stops", async () => {
    const marker = tag();
    const id = crypto.randomUUID();
    const sql = `select i, pg_sleep(case when i = 100000 then 30 else 0 end) as s /* ${marker} */ from generate_series(1, 200000) i`;
    const res = await cluster.api(`/api/data/sources/${sourceId}/query?format=ndjson`, { method: "POST", via: gw2, json: { sql, query_id: id } });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    await reader.read();
    await waitFor(async () => (await active(marker)) === 1, 10_000, "the export to reach its sleep");
    expect((await cancel(id, gw1)).status).toBe(200);
    let error: unknown = null;
    try {
      for (let r = await reader.read(); !r.done; r = await reader.read());
    } catch (e) {
      error = e;
    }
    expect(error, "the export ends without its closing chunk").not.toBeNull();
    await waitFor(async () => (await active(marker)) === 0, 5_000, "PostgreSQL to stop the cancelled export");
  });

  it("a gateway process logs an export failing after its first bytes as one JSON line, never a stack", async () => {
    const id = crypto.randomUUID();
    const res = await cluster.api(`/api/data/sources/${sourceId}/query?format=ndjson`, {
      method: "POST", via: gw1, json: { sql: "select i, 1 / (150000 - i) as x from generate_series(1, 200000) i", query_id: id },
    });
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
    const log = () => readFileSync(cluster.replica("gw1").logFile, "utf8");
    await waitFor(async () => log().includes(id), 5_000, "the gateway to log the failed export");
    const lines = log().split("\n").filter((l) => l.includes(id));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ query_id: id, code: "QUERY_FAILED" });
    expect(log()).not.toMatch(/AppError|^\s+at /m);
  });
});
