/**
 * Test fixture for the MySQL driver: as root over the unix socket (the only way
 * root gets in on these machines), makes a TCP user and a scratch database for
 * it. Idempotent: the user is created if missing and its password reset; each
 * call gets its own database, dropped by `drop()`. The tests call it
 * themselves, so CI needs no extra step.
 */
import { existsSync } from "node:fs";
import mysql from "mysql2/promise";
import type { ConfigOf } from "@dsb/contracts";

export const MYSQL_SOCKET = process.env.MYSQL_SOCKET ?? "/run/mysqld/mysqld.sock";
export const TEST_USER = "dsb";
/** A test-only password for a user that can reach only its scratch databases on 127.0.0.1. */
export const TEST_PASSWORD = "dsb-test-Pw-8c1f";
/** Scratch databases older than this are leftovers of an interrupted run. */
const STALE_MS = 60 * 60 * 1000;

export interface MysqlFixture {
  config: ConfigOf<"mysql">;
  database: string;
  /** Runs SQL as root (over the socket), e.g. to look at the process list. */
  root<T = unknown[][]>(sql: string, values?: unknown[]): Promise<T>;
  drop(): Promise<void>;
}

export async function mysqlFixture(): Promise<MysqlFixture | { skip: string }> {
  if (!existsSync(MYSQL_SOCKET)) return { skip: `no MariaDB/MySQL socket at ${MYSQL_SOCKET} (set MYSQL_SOCKET)` };
  let root: mysql.Connection;
  try {
    root = await mysql.createConnection({ socketPath: MYSQL_SOCKET, user: "root", rowsAsArray: true });
  } catch (e) {
    return { skip: `cannot log in as root over ${MYSQL_SOCKET}: ${(e as Error).message}` };
  }
  // The time in the name lets a later run drop databases a killed run left behind.
  const database = `dsb_mysql_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const [existing] = await root.query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'dsb\\_mysql\\_%'");
  for (const [name] of existing as unknown as [string][]) {
    const born = parseInt(/^dsb_mysql_([0-9a-z]+)_/.exec(name)?.[1] ?? "", 36);
    if (!Number.isFinite(born) || Date.now() - born > STALE_MS) await root.query(`DROP DATABASE IF EXISTS \`${name}\``).catch(() => undefined);
  }
  await root.query(`CREATE USER IF NOT EXISTS '${TEST_USER}'@'127.0.0.1' IDENTIFIED BY '${TEST_PASSWORD}'`);
  await root.query(`ALTER USER '${TEST_USER}'@'127.0.0.1' IDENTIFIED BY '${TEST_PASSWORD}'`);
  await root.query(`CREATE DATABASE \`${database}\``);
  await root.query(`GRANT ALL PRIVILEGES ON \`${database}\`.* TO '${TEST_USER}'@'127.0.0.1'`);
  return {
    database,
    config: {
      type: "mysql", host: "127.0.0.1", port: 3306, database, username: TEST_USER, password: TEST_PASSWORD,
      ssl: { mode: "prefer" }, allow_writes: true,
    },
    root: async <T,>(sql: string, values?: unknown[]) => (await root.query(sql, values))[0] as T,
    drop: async () => {
      await root.query(`DROP DATABASE IF EXISTS \`${database}\``).catch(() => undefined);
      await root.end().catch(() => undefined);
    },
  };
}
