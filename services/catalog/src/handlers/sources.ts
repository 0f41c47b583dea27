import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import { AppError, UNKNOWN_HEALTH, type DataSource } from "@dsb/contracts";
import type { Handlers } from "@dsb/bus";
import { encryptConfig } from "../crypto/credentials.ts";
import { decodeCursor, cutPage } from "../pagination.ts";
import { isoColumn, SOURCE_COLUMNS, toDataSource, toJson, type SourceRow } from "../rows.ts";
import { healthOf } from "../health/store.ts";
import type { CatalogDb } from "../db/types.ts";
import { actorLog, before, CONFIG_VERSION, findActiveSource, NOT_FOUND, type CatalogDeps } from "./deps.ts";

/** Adds `health` to the database sources (one query for the lot), so a list needs no request per source. */
export async function withHealth(db: CatalogDb, tenantId: string, sources: DataSource[]): Promise<DataSource[]> {
  const ids = sources.filter((s) => s.type === "database").map((s) => s.id);
  const health = await healthOf(db, tenantId, ids);
  return sources.map((s) => (s.type === "database" ? { ...s, health: health.get(s.id) ?? UNKNOWN_HEALTH } : s));
}

type SourceSubjects = "catalog.source.create" | "catalog.source.get" | "catalog.source.list" | "catalog.source.delete";
const RETURNING = [...SOURCE_COLUMNS, isoColumn("created_at"), isoColumn("updated_at")] as const;
const RETURNING_BUT_SCHEMA = [...SOURCE_COLUMNS.filter((c) => c !== "schema"), isoColumn("created_at"), isoColumn("updated_at")] as const;

export function sourceHandlers({ db, keys, bus, log, maxReplyBytes }: CatalogDeps): Handlers<SourceSubjects> {
  return {
    "catalog.source.create": async ({ actor, source, echo }) => {
      if (source.type === "database" && !source.connection_config)
        throw new AppError("VALIDATION", "A database source needs its connection_config");
      const config = source.connection_config ? encryptConfig(source.connection_config, keys) : null;
      const dbType = source.db_type ?? (typeof config?.type === "string" ? config.type : null);
      const row = await db.insertInto("data_sources").values({
        id: randomUUID(), name: source.name, type: source.type, format: source.format ?? null, db_type: dbType,
        schema: toJson(source.schema), connection_config: toJson(config), file_path: source.file_path ?? null,
        user_id: actor.user_id, tenant_id: actor.tenant_id,
      }).returning(RETURNING_BUT_SCHEMA).executeTakeFirstOrThrow();
      // Due at once: the scheduler checks a new source in its next round.
      if (row.type === "database") await db.insertInto("data_source_health").values({ source_id: row.id, tenant_id: row.tenant_id }).onConflict((oc) => oc.doNothing()).execute();
      log.info({ ...actorLog(actor), id: row.id, type: row.type, db_type: row.db_type }, "✅ data source stored");
      // The schema just written is the one received (and validated): not read back, as it can be megabytes of jsonb.
      const [stored] = await withHealth(db, actor.tenant_id, [toDataSource({ ...row, schema: null })]);
      return { source: { ...stored!, schema: echo ? source.schema ?? null : null } };
    },

    "catalog.source.get": async ({ actor, id }) => {
      const row = await db.selectFrom("data_sources").select([...RETURNING, CONFIG_VERSION.as("version")])
        .where("id", "=", id).where("tenant_id", "=", actor.tenant_id).where("is_active", "=", true).executeTakeFirst();
      if (!row) throw NOT_FOUND();
      const [source] = await withHealth(db, actor.tenant_id, [toDataSource(row)]);
      return { source: source!, config_version: row.type === "database" ? row.version : null };
    },

    "catalog.source.list": async ({ actor, type, limit, cursor, summary }) => {
      // summary: the schema column is never read (not loaded and dropped: it can be megabytes per source).
      let q = db.selectFrom("data_sources").select(summary ? RETURNING_BUT_SCHEMA : RETURNING)
        .where("tenant_id", "=", actor.tenant_id).where("is_active", "=", true)
        .orderBy("created_at", "desc").orderBy("id", "desc").limit(limit + 1);
      if (type) q = q.where("type", "=", type);
      if (cursor) q = q.where(before(decodeCursor(cursor)));
      const rows = await q.execute();
      const sources = await withHealth(db, actor.tenant_id, rows.map((r) => toDataSource({ schema: null, ...(r as Omit<SourceRow, "schema">) } as SourceRow)));
      const { page, next_cursor } = cutPage(sources, limit, maxReplyBytes, (s) => Buffer.byteLength(JSON.stringify(s)));
      return { sources: page, next_cursor };
    },

    "catalog.source.delete": async ({ actor, id }) => {
      const found = await findActiveSource(db, actor.tenant_id, id);
      if (found.user_id !== actor.user_id && actor.role !== "admin")
        throw new AppError("FORBIDDEN", "Only the owner or an admin may delete this data source");
      const row = await db.updateTable("data_sources").set({ is_active: false, updated_at: sql<Date>`now()` })
        .where("id", "=", id).where("tenant_id", "=", actor.tenant_id).where("is_active", "=", true)
        .returning(RETURNING).executeTakeFirst();
      if (!row) throw NOT_FOUND(); // deleted concurrently
      const source = toDataSource(row);
      bus.publish("catalog.events.source.deleted", { id, tenant_id: source.tenant_id, type: source.type, file_path: source.file_path });
      log.info({ ...actorLog(actor), id }, "🗑️ data source deleted");
      return { source };
    },
  };
}
