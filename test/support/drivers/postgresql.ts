import type { ConfigOf } from "@dsb/contracts";
import type { DriverHarness } from "./suite.ts";
import { scratchDatabase, TEST_PG } from "./pg-scratch-db.ts";

/** The suite's harness for a pg-wire driver against the local PostgreSQL, in a scratch database. */
export function pgHarness<T extends "postgresql" | "redshift">(type: T): DriverHarness<ConfigOf<T>> {
  let db: Awaited<ReturnType<typeof scratchDatabase>> | null = null;
  const scratch = () => (db && !("skip" in db) ? db : null);
  return {
    type,
    async config() {
      db = await scratchDatabase(`dsb_connector_${type}_`);
      if ("skip" in db) return db;
      return { type, host: TEST_PG.host, port: TEST_PG.port, database: db.name, username: TEST_PG.user, password: TEST_PG.password, allow_writes: true, ssl: { mode: "prefer" } } as ConfigOf<T>;
    },
    setupSql: [
      "drop view if exists dsb_suite_view",
      "drop table if exists public.dsb_suite_items",
      "create table public.dsb_suite_items (id integer primary key, name varchar(100) not null, amount decimal(12,2), big bigint, created_at timestamp, flag boolean)",
      "insert into public.dsb_suite_items values (1,'alpha',10.50,9007199254740993,'2024-01-02 03:04:05',true),(2,'beta',NULL,2,'2024-02-03 04:05:06',false),(3,'gamma',7.25,3,NULL,NULL)",
      "create view dsb_suite_view as select id, name from public.dsb_suite_items",
    ],
    table: "public.dsb_suite_items",
    placeholder: (n) => `$${n}`,
    sleepSql: (s) => `select pg_sleep(${s})`,
    async runningQueries(marker) {
      const d = scratch();
      if (!d) return 0;
      const r = await d.admin("select count(*)::int as n from pg_stat_activity where state = 'active' and query like $1 and pid <> pg_backend_pid()", [`%${marker}%`]);
      return (r.rows[0] as { n: number }).n;
    },
    writeSql: "insert into public.dsb_suite_items (id, name) values (99, 'nope')",
    // Trust auth here accepts any password: an unknown role is the refusal we can provoke.
    badCredentials: (config) => {
      const secret = `wrong-${Math.random().toString(36).slice(2, 10)}-pw`;
      return { config: { ...config, username: `dsb_nobody_${Math.random().toString(36).slice(2, 8)}`, password: secret }, secret };
    },
    async cleanup() {
      await scratch()?.drop();
    },
  };
}
