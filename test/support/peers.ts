import pg from "pg";
import mysql from "mysql2/promise";
import { createScratchDatabase } from "./pg.ts";

/** A throwaway PostgreSQL database with a few tables, for sources the tests connect. */
export async function createPgSource(setupSql: string[]): Promise<{ database: string; exec(sql: string): Promise<pg.QueryResult>; drop(): Promise<void> }> {
  const scratch = await createScratchDatabase("dsb_src");
  const client = new pg.Client({ connectionString: scratch.url });
  client.on("error", () => undefined);
  await client.connect();
  for (const s of setupSql) await client.query(s);
  return {
    database: scratch.name,
    exec: (sql) => client.query(sql),
    drop: async () => {
      await client.end().catch(() => undefined);
      await scratch.drop();
    },
  };
}

export const MARIADB_SOCKET = process.env.TEST_MYSQL_SOCKET ?? "/run/mysqld/mysqld.sock";

/** A MariaDB database and a TCP user with a password (root only logs in over the socket here). */
export async function createMysqlSource(setupSql: string[]): Promise<{ database: string; user: string; password: string; drop(): Promise<void> }> {
  const database = `dsb_src_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const user = "dsb_e2e";
  const password = "e2e-Secret-pw-42";
  const root = await mysql.createConnection({ socketPath: MARIADB_SOCKET, user: "root", multipleStatements: true });
  await root.query(`create database ${database}`);
  await root.query(`create user if not exists '${user}'@'127.0.0.1' identified by '${password}'`);
  await root.query(`alter user '${user}'@'127.0.0.1' identified by '${password}'`);
  await root.query(`grant all on ${database}.* to '${user}'@'127.0.0.1'`);
  await root.query(`use ${database}`);
  for (const s of setupSql) await root.query(s);
  return {
    database, user, password,
    drop: async () => {
      await root.query(`drop database if exists ${database}`);
      await root.end();
    },
  };
}

/** True when a ClickHouse server answers on 8123 (.ci/clickhouse.sh starts one). */
export async function clickhouseUp(): Promise<boolean> {
  try {
    return (await fetch("http://127.0.0.1:8123/ping", { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

export async function clickhouseExec(sql: string): Promise<string> {
  const res = await fetch("http://127.0.0.1:8123/", { method: "POST", body: sql });
  const text = await res.text();
  if (!res.ok) throw new Error(text);
  return text;
}
