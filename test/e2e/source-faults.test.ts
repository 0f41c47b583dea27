/**
 * A data-source database behind a TCP fault proxy (test/support/fault-proxy.ts) that adds
 * latency, stalls or resets connections mid-query and mid-export. Each query must end (200,
 * 422 or 504, never 500 or a hang), the source's pool must serve the next queries, and a
 * second source on the same server, not behind the proxy, must answer all along.
 * Fetches carry a generous abort bound that only proves "no hang".
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FaultProxy } from "../support/fault-proxy.ts";
import { eventually } from "../support/load.ts";
import { createPgSource } from "../support/peers.ts";
import { startTestSystem, type RunningSystem } from "../support/system.ts";

const NO_HANG_MS = 40_000;
let sys: RunningSystem;
let src: Awaited<ReturnType<typeof createPgSource>>;
let proxy: FaultProxy;
let faulty: string;
let healthy: string;

const query = (id: string, json: Record<string, unknown>) =>
  sys.api(`/api/data/sources/${id}/query`, { method: "POST", json, signal: AbortSignal.timeout(NO_HANG_MS) });
const exportCsv = (id: string, json: Record<string, unknown>) =>
  sys.api(`/api/data/sources/${id}/query?format=csv`, { method: "POST", json, signal: AbortSignal.timeout(NO_HANG_MS) });
const connect = async (name: string, port: number) => {
  const res = await sys.api("/api/data/database/connect", {
    // ssl off: the machine's server has no TLS, and the proxy should see the plain protocol.
    method: "POST", json: { type: "postgres", name, host: "127.0.0.1", port, database: src.database, username: "postgres", password: "unused-trust-auth", ssl: { mode: "disable" } },
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return ((await res.json()) as { data_source: { id: string } }).data_source.id;
};
/** Waits until a statement carrying `tag` runs on the server (so the fault lands mid-query). */
const running = (tag: string) => eventually(async () =>
  Number((await src.exec(`select count(*) as n from pg_stat_activity where query like '%${tag}%' and pid <> pg_backend_pid()`)).rows[0].n) > 0, 10_000, `${tag} to run`);

/** The healthy source answers a burst while the faulty one is broken. */
async function otherSourceAnswers(): Promise<void> {
  const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => query(healthy, { sql: `select ${i} as n, count(*)::int as c from t` })));
  expect(answers.map((a) => a.status)).toEqual(Array(8).fill(200));
}

/** The faulty source's pool serves 20 concurrent queries (more than its 15 connections) once healed. */
async function poolRecovered(): Promise<void> {
  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => query(faulty, { sql: `select ${i} as n, count(*)::int as c from t` })));
  const bodies = await Promise.all(answers.map((a) => a.json() as Promise<{ rows?: unknown[][]; code?: string }>));
  expect(answers.map((a) => a.status), JSON.stringify(bodies.filter((b) => b.code))).toEqual(Array(20).fill(200));
  expect(bodies.map((b) => b.rows)).toEqual(Array.from({ length: 20 }, (_, i) => [[i, 10]]));
}

async function expectEnded(res: Response, statuses: number[]): Promise<{ code?: string; error?: string }> {
  const body = (await res.json()) as { success: boolean; code?: string; error?: string };
  expect(statuses, JSON.stringify(body)).toContain(res.status);
  expect(body.success).toBe(false);
  expect(JSON.stringify(body)).not.toMatch(/\bat \w+ \(|node_modules|unused-trust-auth/);
  return body;
}

/** Reads an export to its end: "complete", or the error that cut it. */
async function drain(res: Response): Promise<string> {
  const reader = res.body!.getReader();
  try {
    for (;;) if ((await reader.read()).done) return "complete";
  } catch (e) {
    return `cut: ${(e as Error).message}`;
  }
}

async function lastHistory(id: string): Promise<{ status: string; error: string | null; query: string }> {
  return ((await (await sys.api(`/api/data/sources/${id}/queries?limit=1`)).json()) as { queries: { status: string; error: string | null; query: string }[] }).queries[0]!;
}

beforeAll(async () => {
  sys = await startTestSystem();
  src = await createPgSource(["create table t as select g as id from generate_series(1, 10) g"]);
  proxy = await FaultProxy.start({ host: "127.0.0.1", port: 5432 });
  faulty = await connect("behind the fault proxy", proxy.port);
  healthy = await connect("direct", 5432);
});
afterAll(async () => {
  await proxy?.close();
  await sys?.stop();
  await src?.drop();
});

describe("a data-source database that misbehaves", () => {
  it("answers through added latency (the proxy passes traffic)", async () => {
    proxy.latency(100);
    try {
      const res = await query(faulty, { sql: "select count(*)::int as c from t" });
      expect(res.status).toBe(200);
      expect((await res.json()).rows).toEqual([[10]]);
    } finally {
      proxy.heal();
    }
  });

  it("stalls mid-query: 504 TIMEOUT after the query's timeout, other sources answer meanwhile, the pool recovers", async () => {
    const tag = `stall_q_${Date.now().toString(36)}`;
    const pending = query(faulty, { sql: `select pg_sleep(1), '${tag}' as tag`, timeout_ms: 2000 });
    await running(tag);
    proxy.stall();
    try {
      await otherSourceAnswers();
      expect(await expectEnded(await pending, [504])).toMatchObject({ code: "TIMEOUT" });
      expect(await lastHistory(faulty)).toMatchObject({ status: "error", query: expect.stringContaining(tag) });
      await otherSourceAnswers();
    } finally {
      proxy.heal();
    }
    await poolRecovered();
  });

  it("resets mid-query: the query ends with 422, every pooled connection it cut is replaced", async () => {
    await poolRecovered(); // the pool holds idle connections: the reset cuts them all
    const tag = `reset_q_${Date.now().toString(36)}`;
    const pending = query(faulty, { sql: `select pg_sleep(5), '${tag}' as tag` });
    await running(tag);
    proxy.resetOpen();
    // Found here: the sentence blamed the login and TLS ("closed the connection during login") for a session cut mid-statement.
    expect(await expectEnded(await pending, [422])).toMatchObject({ code: "CONNECTION_FAILED", error: expect.stringMatching(/closed the connection while the query ran/) });
    await otherSourceAnswers();
    await poolRecovered();
  });

  it("new connections reset while the host is down: 422 CONNECTION_FAILED at once, recovery after", async () => {
    proxy.reset();
    try {
      // Pooled sessions were cut; a reconnect meets an RST.
      const body = await expectEnded(await query(faulty, { sql: "select 1" }), [422, 503]);
      expect(body.code).toMatch(/^(CONNECTION_FAILED|QUERY_FAILED|UNAVAILABLE)$/);
      await otherSourceAnswers();
    } finally {
      proxy.heal();
    }
    await poolRecovered();
  });

  for (const fault of ["stall", "reset"] as const) {
    it(`${fault}s mid-export: the CSV stream is cut (never reported complete), history records the error, the pool recovers`, async () => {
      const tag = `${fault}_e_${Date.now().toString(36)}`;
      const res = await exportCsv(faulty, { sql: `select g, repeat('x', 200) as pad, '${tag}' as tag from generate_series(1, 3000000) g`, timeout_ms: 3000 });
      expect(res.status).toBe(200);
      const reader = res.body!.getReader();
      expect((await reader.read()).done).toBe(false);
      await running(tag);
      if (fault === "stall") proxy.stall();
      else proxy.resetOpen();
      try {
        reader.releaseLock();
        expect(await drain(res)).toMatch(/^cut/);
        await otherSourceAnswers();
        await eventually(async () => (await lastHistory(faulty)).query.includes(tag), 10_000, "the export's history entry");
        expect(await lastHistory(faulty)).toMatchObject({ status: "error" });
      } finally {
        proxy.heal();
      }
      await poolRecovered();
    });
  }
});
