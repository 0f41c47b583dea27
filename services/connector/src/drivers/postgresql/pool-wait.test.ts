import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import type { ConfigOf } from "@dsb/contracts";
import { connectChecked } from "../../address-policy.ts";
import { DriverError } from "../types.ts";
import { POOL_MAX, postgresqlDriver } from "./driver.ts";
import { drain } from "../../../../../test/support/drivers/suite.ts";
import { scratchDatabase, TEST_PG } from "../../../../../test/support/drivers/pg-scratch-db.ts";

describe("postgresql pool: waiting for a free connection is not connecting", async () => {
  const db = await scratchDatabase("dsb_connector_poolwait_");
  if ("skip" in db) console.log(`SKIPPED postgresql pool wait: ${db.skip}`);

  it.runIf(!("skip" in db))("a query waits for a slot as long as its own timeout; one whose signal fires while waiting fails with timeout, unrun, and gives its slot back", async () => {
    const scratch = db as Exclude<typeof db, { skip: string }>;
    const config = { type: "postgresql", host: TEST_PG.host, port: TEST_PG.port, username: TEST_PG.user, password: TEST_PG.password, database: scratch.name, allow_writes: true } as ConfigOf<"postgresql">;
    // nextval is not transactional: had the abandoned query run at all, the sequence would show it.
    await scratch.admin(`select 1`);
    const conn = await connectChecked(postgresqlDriver, config, { allowPrivateHosts: true });
    const late = new AbortController();
    try {
      await drain(conn, "create sequence pool_wait_seq", [], { readOnly: false });
      const marker = `dsb_poolwait_${Math.random().toString(36).slice(2, 10)}`;
      // The pool's every connection busy for 10.5 s: longer than the 10 s connect timeout. (A column
      // of a type outside TYPE_NAMES, like pg_sleep's void, would have each look its name up on a second session.)
      const sleepers = Array.from({ length: POOL_MAX }, () => drain(conn, `select 1 as slept from pg_sleep(10.5) /* ${marker} */`, [], { timeoutMs: 30_000 }));
      // The two below must queue behind all of them.
      for (let i = 0; i < 200; i++) {
        const n = Number((await scratch.admin("select count(*) as n from pg_stat_activity where query like $1 and state = 'active'", [`%${marker}%`])).rows[0].n);
        if (n >= POOL_MAX) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const patient = drain(conn, "select 1 as one", [], { timeoutMs: 30_000 });
      const abandoned = drain(conn, `select nextval('pool_wait_seq') /* ${marker}_late */`, [], { timeoutMs: 2_000, signal: late.signal, readOnly: false })
        .then(() => null, (e: unknown) => e);
      // As the connector's handler does when the query's timeout passes.
      setTimeout(() => late.abort(new DriverError("timeout", "Query exceeded its timeout of 2000 ms and was cancelled")), 2_000).unref();
      const [slept, one, err] = await Promise.all([Promise.all(sleepers), patient, abandoned]);
      expect(slept).toHaveLength(POOL_MAX);
      expect(one.rows).toEqual([[1]]);
      expect(err).toBeInstanceOf(DriverError);
      expect((err as DriverError).kind).toBe("timeout");
      // The late connection went straight back: nothing waits, nothing stays checked out.
      for (let i = 0; i < 200 && (conn.poolStats!().waiting > 0 || conn.poolStats!().idle < conn.poolStats!().total); i++) await new Promise((r) => setTimeout(r, 50));
      expect(conn.poolStats!().waiting).toBe(0);
      expect(conn.poolStats!().idle).toBe(conn.poolStats!().total);
      expect((await drain(conn, "select is_called from pool_wait_seq")).rows).toEqual([[false]]);
    } finally {
      late.abort();
      await conn.close();
      await scratch.drop();
    }
  }, 90_000);

  it("connecting is still bounded: a server that accepts and never answers fails with kind connection", async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const config = { type: "postgresql", host: "127.0.0.1", port: (silent.address() as { port: number }).port, username: "postgres", database: "postgres" } as ConfigOf<"postgresql">;
    const conn = await connectChecked(postgresqlDriver, config, { allowPrivateHosts: true });
    try {
      const err = await conn.test().then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(DriverError);
      expect((err as DriverError).kind).toBe("connection");
      expect((err as DriverError).message).toMatch(/Timed out connecting to 127\.0\.0\.1/);
    } finally {
      await conn.close();
      silent.close();
    }
  }, 45_000);
});
