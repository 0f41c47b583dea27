import { randomUUID } from "node:crypto";
import type { Handlers } from "@dsb/bus";
import type { ParsedRequestOf } from "@dsb/contracts";
import { decodeCursor, cutPage } from "../pagination.ts";
import { HISTORY_COLUMNS, isoColumn, toHistoryEntry, toJson } from "../rows.ts";
import { before, findActiveSource, type CatalogDeps } from "./deps.ts";
import { createHistoryWriter } from "./history-writer.ts";

type HistoryRecord = ParsedRequestOf<"catalog.history.record_batch">["records"][number];

export function historyHandlers({ db, maxReplyBytes }: CatalogDeps): Handlers<"catalog.history.record_batch" | "catalog.history.list"> {
  const history = createHistoryWriter(db);
  /** Queues one record on the writer (records queued in the same tick share a statement); resolves to its id, or null if its source is gone. */
  const write = async ({ actor, entry }: HistoryRecord): Promise<string | null> => {
    const id = entry.id ?? randomUUID();
    const inserted = await history.write({
      id, data_source_id: entry.data_source_id, user_id: actor.user_id, tenant_id: actor.tenant_id,
      natural_language_query: entry.natural_language_query, query: entry.query, query_config: toJson(entry.query_config),
      result_count: entry.result_count, execution_time_ms: entry.execution_time_ms, status: entry.status, error: entry.error, cached: entry.cached ?? null,
    });
    return inserted ? id : null;
  };
  return {
    "catalog.history.record_batch": async ({ records }) => ({ ids: await Promise.all(records.map(write)) }),

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
