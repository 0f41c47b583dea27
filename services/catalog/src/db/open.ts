import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { CompiledQuery, Kysely, PostgresDialect } from "kysely";
import { coalesceWrites, pgClientSocket, type Env, type Logger } from "@dsb/runtime";
import type { CatalogDatabase, CatalogDb } from "./types.ts";

/** Every session runs in UTC so timestamps format and compare the same on both engines. */
const UTC = CompiledQuery.raw("set time zone 'UTC'");

/** PostgreSQL when DATABASE_URL is set, PGlite persisted in DATA_DIR/catalog otherwise. */
export async function openDatabase(env: Pick<Env, "DATABASE_URL" | "DATA_DIR">, log?: Logger): Promise<CatalogDb> {
  if (env.DATABASE_URL) {
    const { default: pg } = await import("pg");
    const pool = new pg.Pool({ connectionString: env.DATABASE_URL, max: 10, idleTimeoutMillis: 30_000 });
    // An idle client dropped by the server (restart, failover) must not crash the process; the pool reconnects.
    pool.on("error", (err) => log?.warn({ err: { message: err.message } }, "⚠️ catalog database connection lost; reconnecting"));
    pool.on("connect", (client) => {
      const socket = pgClientSocket(client);
      if (socket) coalesceWrites(socket);
    });
    return new Kysely<CatalogDatabase>({
      dialect: new PostgresDialect({ pool, onCreateConnection: async (c) => void (await c.executeQuery(UTC)) }),
    });
  }
  const dir = join(env.DATA_DIR, "catalog");
  await mkdir(dir, { recursive: true });
  const { PGlite } = await import("@electric-sql/pglite");
  const { PGliteDialect } = await import("./pglite-dialect.ts");
  const pglite = await PGlite.create(dir);
  await pglite.exec(UTC.sql);
  return new Kysely<CatalogDatabase>({ dialect: new PGliteDialect(pglite) });
}
