import { randomUUID } from "node:crypto";
import type { Handlers } from "@dsb/bus";
import { decodeCursor, cutPage } from "../pagination.ts";
import { HISTORY_COLUMNS, isoColumn, toHistoryEntry, toJson } from "../rows.ts";
import { before, findActiveSource, NOT_FOUND, type CatalogDeps } from "./deps.ts";
import { createHistoryWriter } from "./history-writer.ts";

export function historyHandlers({ db, maxReplyBytes }: CatalogDeps): Handlers<"catalog.history.record" | "catalog.history.list"> {
  const history = createHistoryWriter(db);
  return {
    "catalog.history.record": async ({ actor, entry }) => {
      const id = entry.id ?? randomUUID();
      const inserted = await history.write({
        id, data_source_id: entry.data_source_id, user_id: actor.user_id, tenant_id: actor.tenant_id,
        natural_language_query: entry.natural_language_query, query: entry.query, query_config: toJson(entry.query_config),
        result_count: entry.result_count, execution_time_ms: entry.execution_time_ms, status: entry.status, error: entry.error,
      });
      if (!inserted) throw NOT_FOUND();
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
