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
  const typesDb = await scratchDatabase("dsb_connector_typename_");
  /** A connection with writes allowed to a scratch database. */
  const open = (name: string) => connectChecked(postgresqlDriver, {
    type: "postgresql", host: TEST_PG.host, port: TEST_PG.port, username: TEST_PG.user, password: TEST_PG.password, database: name, allow_writes: true,
  } as ConfigOf<"postgresql">, { allowPrivateHosts: true });

  it.runIf(!("skip" in db))("a query waits for a slot as long as its own timeout; one whose signal fires while waiting fails with timeout, unrun, and gives its slot back", async () => {
    const scratch = db as Exclude<typeof db, { skip: string }>;
    // nextval is not transactional: had the abandoned query run at all, the sequence would show it.
    const conn = await open(scratch.name);
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

  it.runIf(!("skip" in typesDb))("a capped read names an enum column on its own session: on a full pool with a queue it neither waits for a second one nor falls back to oid:N", async () => {
    const scratch = typesDb as Exclude<typeof typesDb, { skip: string }>;
    const conn = await open(scratch.name);
    const stop = new AbortController();
    const marker = `dsb_typename_${Math.random().toString(36).slice(2, 10)}`;
    const busy = () => drain(conn, `select 1 as slept from pg_sleep(25) /* ${marker} */`, [], { timeoutMs: 30_000, signal: stop.signal }).catch(() => null);
    const active = async () => Number((await scratch.admin("select count(*) as n from pg_stat_activity where query like $1 and state = 'active'", [`%${marker}%`])).rows[0].n);
    const sleepers: Promise<unknown>[] = [];
    try {
      await drain(conn, "create type pool_mood as enum ('calm', 'busy')", [], { readOnly: false });
      // Every session but one busy for 25 s.
      for (let i = 0; i < POOL_MAX - 1; i++) sleepers.push(busy());
      for (let i = 0; i < 200 && (await active()) < POOL_MAX - 1; i++) await new Promise((r) => setTimeout(r, 50));
      // The capped read takes the last session; a 25 s sleeper queues behind it and gets that session when it is given back.
      const read = drain(conn, "select 'calm'::pool_mood as mood from pg_sleep(1)", [], { maxRows: 10, batchRows: 1000 });
      const stats = () => conn.poolStats!();
      for (let i = 0; i < 200 && !(stats().total === POOL_MAX && stats().idle === 0); i++) await new Promise((r) => setTimeout(r, 10));
      sleepers.push(busy());
      const { columns, rows } = await read;
      expect(rows).toEqual([["calm"]]);
      expect(columns).toEqual([{ name: "mood", type: "pool_mood" }]);
    } finally {
      stop.abort();
      await Promise.all(sleepers);
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
