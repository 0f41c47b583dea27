import { sql } from "kysely";
import { AppError, type Actor } from "@dsb/contracts";
import type { Bus } from "@dsb/bus";
import type { Logger } from "@dsb/runtime";
import type { MultiFernet } from "../crypto/fernet.ts";
import type { CatalogDb } from "../db/types.ts";
import type { HealthChecker } from "../health/scheduler.ts";
import { isoColumn, SOURCE_COLUMNS, type SourceRow } from "../rows.ts";

/** What every handler works with. */
export interface CatalogDeps {
  db: CatalogDb;
  keys: MultiFernet;
  bus: Bus;
  log: Logger;
  /** Budget for the items of one reply, below the bus's max payload. */
  maxReplyBytes: number;
  /** Runs and records connection checks (scheduled and `POST …/test`). */
  health: HealthChecker;
}

export const NOT_FOUND = () => new AppError("NOT_FOUND", "Data source not found");

/** One active source of the tenant; another tenant's or a deleted one is NOT_FOUND, indistinguishably. */
export async function findActiveSource(db: CatalogDb, tenantId: string, id: string, opts: { forUpdate?: boolean } = {}): Promise<SourceRow> {
  let q = db.selectFrom("data_sources")
    .select([...SOURCE_COLUMNS, isoColumn("created_at"), isoColumn("updated_at")])
    .where("id", "=", id).where("tenant_id", "=", tenantId).where("is_active", "=", true);
  if (opts.forUpdate) q = q.forUpdate();
  const row = await q.executeTakeFirst();
  if (!row) throw NOT_FOUND();
  return row;
}

export const actorLog = (actor: Actor) => ({ tenant_id: actor.tenant_id, user_id: actor.user_id });

/** `(created_at, id) < position`, for newest-first keyset pagination. */
export const before = (p: { created_at: string; id: string }) => sql<boolean>`(created_at, id) < (${p.created_at}::timestamptz, ${p.id})`;

/** Version of a stored config: changes exactly when the stored connection_config does, whoever writes it. */
export const CONFIG_VERSION = sql<string>`md5(coalesce(connection_config::text, ''))`;
