import pg from "pg";
import { afterEach, expect, it, vi } from "vitest";
import type { ConfigOf } from "@dsb/contracts";
import type { QueryOptions } from "../types.ts";
import { postgresqlDriver, POOL_MAX } from "./driver.ts";
import { TEST_PG } from "../../../../../test/support/drivers/pg-scratch-db.ts";

// The machine's PostgreSQL runs without TLS (`show ssl` is off), so `prefer` must fall back to plain text.
const config = { type: "postgresql", host: TEST_PG.host, port: TEST_PG.port, database: "postgres", username: TEST_PG.user, password: TEST_PG.password, allow_writes: false, ssl: { mode: "prefer" } } as ConfigOf<"postgresql">;
const target = [{ address: TEST_PG.host, hostname: TEST_PG.host, port: TEST_PG.port }];
const opts = (): QueryOptions => ({ readOnly: true, timeoutMs: 5000, signal: new AbortController().signal, batchRows: 10 });

async function selectOne(conn: Awaited<ReturnType<typeof postgresqlDriver.connect>>): Promise<unknown[][]> {
  const q = await conn.query("select 1", [], opts());
  const rows: unknown[][] = [];
  for (let r = await q.batches.next(); !r.done; r = await q.batches.next()) rows.push(...r.value);
  return rows;
}

afterEach(() => vi.restoreAllMocks());

it("concurrent first queries under sslmode prefer all succeed", async () => {
  const conn = await postgresqlDriver.connect(config, target);
  const results = await Promise.allSettled(Array.from({ length: 12 }, () => selectOne(conn)));
  await conn.close();
  expect(results.filter((r) => r.status === "rejected").map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
});

it("more concurrent first queries than the pool holds: none waits for the connect timeout on the pool abandoned by the fallback", async () => {
  // Every checkout that pg-pool itself failed, by message: a waiter stranded on a pool that was
  // ended under it only ever hears "timeout exceeded when trying to connect", 10 s later.
  const failures: string[] = [];
  const pools = new Set<pg.Pool>();
  const connect = pg.Pool.prototype.connect;
  vi.spyOn(pg.Pool.prototype, "connect").mockImplementation(function (this: pg.Pool) {
    pools.add(this);
    const p = (connect as () => Promise<pg.PoolClient>).call(this);
    p.catch((e: Error) => failures.push(e.message));
    return p;
  } as typeof connect);

  const conn = await postgresqlDriver.connect(config, target);
  const n = 2 * POOL_MAX;
  const results = await Promise.allSettled(Array.from({ length: n }, () => selectOne(conn)));
  await conn.close();
  expect(results.filter((r) => r.status === "rejected").map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
  expect(results).toHaveLength(n);
  expect(failures.filter((m) => /timeout/i.test(m))).toEqual([]);
  // Only refusals of the TLS attempt, at most one per query.
  expect(failures.every((m) => /does not support SSL/i.test(m))).toBe(true);
  expect(failures.length).toBeLessThanOrEqual(n);
  // The TLS pool the fallback left behind was ended too, not leaked.
  expect(pools.size).toBe(2);
  expect([...pools].every((p) => p.ending)).toBe(true);
});
