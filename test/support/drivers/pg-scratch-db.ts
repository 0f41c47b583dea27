import pg from "pg";

/** The PostgreSQL this machine runs for tests (trust auth); TEST_PG_URL overrides. */
export const TEST_PG = (() => {
  const u = new URL(process.env.TEST_PG_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres");
  return { host: u.hostname, port: Number(u.port || 5432), user: decodeURIComponent(u.username || "postgres"), password: decodeURIComponent(u.password) || undefined };
})();

/** Creates a throwaway database for one test file; `drop()` removes it (terminating leftover sessions). */
export async function scratchDatabase(prefix = "dsb_connector_"): Promise<{ name: string; drop(): Promise<void>; admin(sql: string, params?: unknown[]): Promise<pg.QueryResult> } | { skip: string }> {
  const name = `${prefix}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const admin = new pg.Client({ ...TEST_PG, database: "postgres" });
  try {
    await admin.connect();
  } catch (e) {
    return { skip: `no PostgreSQL at ${TEST_PG.host}:${TEST_PG.port} (${(e as Error).message})` };
  }
  // Concurrent CREATE DATABASE calls (other test files) briefly hold template1: retry on 55006.
  for (let attempt = 0; ; attempt++) {
    try {
      await admin.query(`create database ${name}`);
      break;
    } catch (e) {
      if ((e as { code?: string }).code !== "55006" || attempt >= 20) {
        await admin.end().catch(() => undefined);
        throw e;
      }
      await new Promise((r) => setTimeout(r, 250 + Math.random() * 500));
    }
  }
  return {
    name,
    admin: (sql, params) => admin.query(sql, params),
    async drop() {
      await admin.query("select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()", [name]).catch(() => undefined);
      await admin.query(`drop database if exists ${name}`).catch(() => undefined);
      await admin.end().catch(() => undefined);
    },
  };
}
