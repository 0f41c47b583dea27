import pg from "pg";

/** The server tests create scratch databases on (CI: the machine's PostgreSQL). */
export const PG_ADMIN_URL = process.env.TEST_DATABASE_URL ?? process.env.TEST_DATABASE_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** A fresh, uniquely named database; `drop()` removes it even with sessions still open. */
export async function createScratchDatabase(prefix: string): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`.toLowerCase();
  // Concurrent CREATE DATABASE calls (other test files) briefly hold template1: retry on 55006.
  for (let attempt = 0; ; attempt++) {
    try {
      await admin((c) => c.query(`create database ${name}`));
      break;
    } catch (e) {
      if ((e as { code?: string }).code !== "55006" || attempt >= 20) throw e;
      await new Promise((r) => setTimeout(r, 250 + Math.random() * 500));
    }
  }
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return { name, url: url.toString(), drop: () => admin((c) => c.query(`drop database if exists ${name} with (force)`)).then(() => undefined) };
}
