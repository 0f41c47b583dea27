import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { CompiledQuery, Kysely, PostgresDialect } from "kysely";
import { coalesceWrites, pgClientSocket, type Env, type Logger } from "@dsb/runtime";
import type { ClientConfig } from "pg";
import type { CatalogDatabase, CatalogDb } from "./types.ts";

/** Every session runs in UTC so timestamps format and compare the same on both engines. */
const UTC = CompiledQuery.raw("set time zone 'UTC'");
const CONNECT_TIMEOUT_MS = 5_000;
/** Without BUS_TIMEOUT_MS (a caller that parsed no env): the default bus wait. */
const DEFAULT_QUEUE_WAIT_MS = 10_000;

/** Calls `fn` at most once every few seconds: a restart drops every connection at once, one log line says it. */
function everyFewSeconds<A extends unknown[]>(fn: (...args: A) => void, ms = 5_000): (...args: A) => void {
  let last = -Infinity;
  return (...args) => {
    const now = performance.now();
    if (now - last < ms) return;
    last = now;
    fn(...args);
  };
}

/** PostgreSQL when DATABASE_URL is set, PGlite persisted in DATA_DIR/catalog otherwise. */
export async function openDatabase(env: Pick<Env, "DATABASE_URL" | "DATA_DIR"> & Partial<Pick<Env, "BUS_TIMEOUT_MS">>, log?: Logger): Promise<CatalogDb> {
  if (env.DATABASE_URL) {
    const { default: pg } = await import("pg");
    // A bounded connect: a stalled or unreachable server answers UNAVAILABLE in seconds, not after TCP's minutes.
    // pg-pool applies its connectionTimeoutMillis to a wait for a free client too: under load,
    // requests queued behind the 10 clients for 5 s were answered 503 "catalog database
    // unavailable" while the database was fine. So the connect is bounded by the client's own
    // timeout, and a wait in the queue by how long the caller waits for the reply (BUS_TIMEOUT_MS):
    // serving a request after that would serve nobody.
    class BoundedConnect extends pg.Client {
      constructor(config?: ClientConfig) {
        super({ ...config, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
      }
    }
    const pool = new pg.Pool({
      connectionString: env.DATABASE_URL, max: 10, idleTimeoutMillis: 30_000, keepAlive: true,
      Client: BoundedConnect, connectionTimeoutMillis: Math.max(CONNECT_TIMEOUT_MS, env.BUS_TIMEOUT_MS ?? DEFAULT_QUEUE_WAIT_MS),
    });
    const lost = everyFewSeconds((err: Error) => log?.warn({ err: { message: err.message } }, "⚠️ catalog database connection lost; reconnecting"));
    // An idle client dropped by the server (restart, failover): the pool removes it and emits here.
    pool.on("error", lost);
    pool.on("connect", (client) => {
      // A checked-out client emits 'error' itself (the pool listens only while it is idle); without a
      // listener a server restart under load ends the process. Its query fails and Kysely releases
      // it, and the pool discards a client that is no longer queryable.
      client.on("error", lost);
      const socket = pgClientSocket(client);
      if (socket) coalesceWrites(socket);
    });
    return new Kysely<CatalogDatabase>({
      dialect: new PostgresDialect({ pool, onCreateConnection: async (c) => void (await c.executeQuery(UTC)) }),
    });
  }
  const dir = join(env.DATA_DIR, "catalog");
  await mkdir(dir, { recursive: true });
  // PGlite initialises a new database for several seconds (~20 s on a small machine): say so, or the first start looks hung.
  const fresh = !existsSync(join(dir, "PG_VERSION"));
  const started = performance.now();
  log?.info({ dir }, fresh
    ? `🗄️ creating the catalog database in ${dir} (PGlite; the first start takes ~20 s)…`
    : `🗄️ opening the catalog database in ${dir}…`);
  const { PGlite } = await import("@electric-sql/pglite");
  const { PGliteDialect } = await import("./pglite-dialect.ts");
  const pglite = await PGlite.create(dir);
  await pglite.exec(UTC.sql);
  log?.info({ dir, seconds: +((performance.now() - started) / 1000).toFixed(1) }, fresh ? "🗄️ catalog database created" : "🗄️ catalog database open");
  return new Kysely<CatalogDatabase>({ dialect: new PGliteDialect(pglite) });
}
