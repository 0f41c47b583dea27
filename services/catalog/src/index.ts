import type { Bus } from "@dsb/bus";
import type { Env, Logger } from "@dsb/runtime";
import { loadKeys } from "./crypto/keys.ts";
import { migrate } from "./db/migrate.ts";
import { openDatabase } from "./db/open.ts";
import type { CatalogDb } from "./db/types.ts";
import { catalogHandlers } from "./handlers/index.ts";

export interface CatalogOptions {
  env: Env;
  bus: Bus;
  log: Logger;
  replicaId: string;
  /** An already open database (tests share it); the caller then closes it. Default: opened from env. */
  db?: CatalogDb;
}

/** Room left in a bus message for the envelope around a page of items. */
const ENVELOPE_BYTES = 16 * 1024;

/**
 * Starts the catalog: checks the encryption key, opens the database, migrates,
 * and serves every catalog.* subject in the "catalog" queue group.
 */
export async function startCatalog(opts: CatalogOptions): Promise<{ stop(): Promise<void> }> {
  const { env, bus, log, replicaId } = opts;
  // Before touching the database: no key outside embedded mode means no start.
  const keys = await loadKeys(env, log);
  const db = opts.db ?? (await openDatabase(env, log));
  try {
    const applied = await migrate(db);
    if (applied.length) log.info({ applied }, "🗄️ catalog migrations applied");
    const served = await bus.serve("catalog", catalogHandlers({ db, keys, bus, log, maxReplyBytes: bus.maxPayload - ENVELOPE_BYTES }), { replicaId });
    log.info({ replicaId, database: env.DATABASE_URL ? "postgresql" : "pglite" }, "🚀 catalog serving");
    return {
      stop: async () => {
        await served.stop();
        if (!opts.db) await db.destroy();
      },
    };
  } catch (e) {
    if (!opts.db) await db.destroy().catch(() => undefined);
    throw e;
  }
}

export { openDatabase } from "./db/open.ts";
export { migrate } from "./db/migrate.ts";
export type { CatalogDb } from "./db/types.ts";
