import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestNatsServer } from "../support/nats-server.ts";
import { answeredMore, eventually, historyAgainst, metricSum, runQueries } from "../support/load.ts";
import { startTestSystem, type RunningSystem } from "../support/system.ts";

/**
 * The system on a private nats-server that the tests kill (SIGKILL) and stall (SIGSTOP) while
 * queries run. Waits have generous bounds that only prove "no hang".
 */
describe("NATS faults under load", () => {
  let nats: TestNatsServer;
  let sys: RunningSystem;
  let sourceId: string;
  beforeAll(async () => {
    nats = await TestNatsServer.start();
    sys = await startTestSystem({ mode: "distributed", natsUrl: nats.url });
    const res = await sys.api("/api/data/database/connect", {
      method: "POST", json: { type: "postgres", name: "faults", host: "127.0.0.1", port: 5432, database: "postgres", username: "postgres", password: "unused-trust-auth" },
    });
    expect(res.status).toBe(201);
    sourceId = ((await res.json()) as { data_source: { id: string } }).data_source.id;
  });
  afterAll(async () => {
    await sys?.stop();
    await nats?.dispose();
  });

  it("every query answered around a NATS kill and restart is in the history exactly once", async () => {
    const load = runQueries(sys.api, sourceId, { workers: 4 });
    try {
      await answeredMore(load, 100, 30_000);
      await nats.stop();
      // Queries fail meanwhile (503). The history entries of those answered just before wait for the
      // bus: longer than a request's 3 s of heartbeat silence, so a write in flight fails too.
      await new Promise((r) => setTimeout(r, 5000));
      await nats.start();
      await answeredMore(load, 100, 60_000);
    } finally {
      await load.stop();
    }
    expect(load.statuses.get(503)).toBeGreaterThan(0);
    expect([...load.statuses.keys()].filter((s) => s !== 200 && s !== 503)).toEqual([]);

    const { missing, duplicated } = await historyAgainst(sys.api, sourceId, load.answered, 30_000);
    expect(missing, `of ${load.answered.length} answered`).toEqual([]);
    expect(duplicated).toEqual([]);
    const metrics = await (await fetch(`${sys.url}/metrics`)).text();
    expect(metricSum(metrics, "ds_history_dropped_total")).toBe(0);
    expect(metrics).toMatch(/^ds_history_dropped_total\{reason="queue_full"\} 0$/m);
  });

  it("a stalled nats-server (SIGSTOP) is noticed within seconds: 503 instead of a hang, and recovery after SIGCONT", async () => {
    expect((await sys.api("/api/data/sources")).status).toBe(200);
    nats.pause();
    try {
      // Answered, not hung: the request's heartbeats stop, or the bus is already known to be down.
      const stalled = await sys.api("/api/data/sources", { signal: AbortSignal.timeout(20_000) });
      expect(stalled.status).toBe(503);
      expect(await stalled.json()).toMatchObject({ success: false, code: "UNAVAILABLE" });
      // The client's pings go unanswered: it declares the connection stale and reconnects. With
      // nats.js's defaults (2 min × 2) this took minutes; 15 s here is a bound, not a measurement.
      await eventually(() => !sys.system.bus.transport.isConnected(), 15_000, "the bus to notice the stalled server");
      const down = await sys.api("/api/data/sources", { signal: AbortSignal.timeout(20_000) });
      expect(down.status).toBe(503);
      expect((await fetch(`${sys.url}/readyz`, { signal: AbortSignal.timeout(20_000) })).status).toBe(503);
    } finally {
      nats.resume();
    }
    await eventually(async () => (await sys.api("/api/data/sources")).status === 200, 60_000, "the gateway to answer again");
    await eventually(async () => (await fetch(`${sys.url}/readyz`)).status === 200, 30_000, "readiness again");
    const q = await sys.api(`/api/data/sources/${sourceId}/query`, { method: "POST", json: { sql: "select 2 as two" } });
    expect(q.status).toBe(200);
  });
});
