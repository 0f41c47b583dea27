import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import { AppError } from "@dsb/contracts";
import type { Handlers } from "@dsb/bus";
import { encryptConfig } from "../crypto/credentials.ts";
import { decodeCursor, cutPage } from "../pagination.ts";
import { isoColumn, SOURCE_COLUMNS, toDataSource, toJson } from "../rows.ts";
import { actorLog, before, findActiveSource, NOT_FOUND, type CatalogDeps } from "./deps.ts";

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
      log.info({ ...actorLog(actor), id: row.id, type: row.type, db_type: row.db_type }, "✅ data source stored");
      // The schema just written is the one received (and validated): not read back, as it can be megabytes of jsonb.
      return { source: { ...toDataSource({ ...row, schema: null }), schema: echo ? source.schema ?? null : null } };
    },

    "catalog.source.get": async ({ actor, id }) => ({ source: toDataSource(await findActiveSource(db, actor.tenant_id, id)) }),

    "catalog.source.list": async ({ actor, type, limit, cursor }) => {
      let q = db.selectFrom("data_sources").select(RETURNING)
        .where("tenant_id", "=", actor.tenant_id).where("is_active", "=", true)
        .orderBy("created_at", "desc").orderBy("id", "desc").limit(limit + 1);
      if (type) q = q.where("type", "=", type);
      if (cursor) q = q.where(before(decodeCursor(cursor)));
      const sources = (await q.execute()).map(toDataSource);
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
