import { randomUUID } from "node:crypto";
import type { Handlers } from "@dsb/bus";
import { decodeCursor, cutPage } from "../pagination.ts";
import { HISTORY_COLUMNS, isoColumn, toHistoryEntry, toJson } from "../rows.ts";
import { sql } from "kysely";
import { before, findActiveSource, NOT_FOUND, type CatalogDeps } from "./deps.ts";

export function historyHandlers({ db, maxReplyBytes }: CatalogDeps): Handlers<"catalog.history.record" | "catalog.history.list"> {
  return {
    "catalog.history.record": async ({ actor, entry }) => {
      const id = entry.id ?? randomUUID();
      // One statement: the row lands only if the source is an active one of this tenant.
      const inserted = await db.insertInto("data_queries")
        .columns(["id", "data_source_id", "user_id", "tenant_id", "natural_language_query", "query", "query_config", "result_count", "execution_time_ms", "status", "error"])
        .expression(db.selectFrom("data_sources").select([
          sql.val(id).as("id"), "data_sources.id as data_source_id", sql.val(actor.user_id).as("user_id"), sql.val(actor.tenant_id).as("tenant_id"),
          sql.val(entry.natural_language_query).as("natural_language_query"), sql.val(entry.query).as("query"),
          sql`${toJson(entry.query_config)}::jsonb`.as("query_config"), sql.val(entry.result_count).as("result_count"),
          sql.val(entry.execution_time_ms).as("execution_time_ms"), sql.val(entry.status).as("status"), sql.val(entry.error).as("error"),
        ]).where("id", "=", entry.data_source_id).where("tenant_id", "=", actor.tenant_id).where("is_active", "=", true))
        .executeTakeFirst();
      if (!inserted.numInsertedOrUpdatedRows) throw NOT_FOUND();
      return { id };
    },

    "catalog.history.list": async ({ actor, data_source_id, limit, cursor }) => {
      await findActiveSource(db, actor.tenant_id, data_source_id);
      let q = db.selectFrom("data_queries").select([...HISTORY_COLUMNS, isoColumn("created_at")])
        .where("data_source_id", "=", data_source_id).where("tenant_id", "=", actor.tenant_id)
        .orderBy("created_at", "desc").orderBy("id", "desc").limit(limit + 1);
      if (cursor) q = q.where(before(decodeCursor(cursor)));
      const queries = (await q.execute()).map(toHistoryEntry);
      const { page, next_cursor } = cutPage(queries, limit, maxReplyBytes, (e) => Buffer.byteLength(JSON.stringify(e)));
      return { queries: page, next_cursor };
    },
  };
}
