import { sql } from "kysely";
import type { CatalogDb, DataQueriesTable } from "../db/types.ts";

/** A `data_queries` row as the writer takes it: `query_config` as JSON text, `created_at` set on insert. */
export type HistoryRow = Omit<DataQueriesTable, "query_config" | "created_at" | "query_hash"> & { query_config: string | null };

/** U+0000 in text, and its escape in JSON text (after an even run of backslashes, so `\\u0000` stays). */
const NUL = /\u0000/g;
const JSON_NUL = /(?<!\\)((?:\\\\)*)\\u0000/g;

/**
 * PostgreSQL text and jsonb cannot hold U+0000, and one such row would fail its whole
 * batch: a NUL in the SQL or the question is stored as U+FFFD, and the entry is kept.
 */
export function storableRow(row: HistoryRow): HistoryRow {
  const text = (s: string | null) => (s === null ? null : s.replace(NUL, "\uFFFD"));
  return {
    ...row,
    query: text(row.query), natural_language_query: text(row.natural_language_query), error: text(row.error),
    query_config: row.query_config === null ? null : row.query_config.replace(JSON_NUL, "$1\\ufffd"),
  };
}

/** Rows per statement (one array parameter per column, so the statement text and its plan never change with the size). */
const MAX_BATCH = 500;

/**
 * Appends history rows, batching the ones that arrive while an insert is
 * running into the next statement: one row at a time when traffic is light, one
 * statement per burst under load. A row lands only if its source is an active
 * one of its tenant; `write` resolves false otherwise. A row whose id is already
 * recorded is not written again (a retry is idempotent). Rows keep their arrival
 * order in `created_at`, also within a batch.
 */
export function createHistoryWriter(db: CatalogDb) {
  type Pending = { row: HistoryRow; done(inserted: boolean): void; fail(e: unknown): void };
  let queue: Pending[] = [];
  let draining = false;

  const insert = async (rows: HistoryRow[]): Promise<Set<string>> => {
    const col = <K extends keyof HistoryRow>(k: K) => rows.map((r) => r[k] ?? null);
    const res = await sql<{ id: string }>`
      insert into data_queries (id, data_source_id, user_id, tenant_id, natural_language_query, query, query_config, result_count, execution_time_ms, status, error, cached, created_at)
      select v.id, v.data_source_id, v.user_id, v.tenant_id, v.nlq, v.query, v.query_config::jsonb, v.result_count, v.execution_time_ms, v.status, v.error, v.cached,
             statement_timestamp() + v.ord * interval '1 microsecond'
      from unnest(${col("id")}::text[], ${col("data_source_id")}::text[], ${col("user_id")}::text[], ${col("tenant_id")}::text[],
        ${col("natural_language_query")}::text[], ${col("query")}::text[], ${col("query_config")}::text[], ${col("result_count")}::int[],
        ${col("execution_time_ms")}::int[], ${col("status")}::text[], ${col("error")}::text[], ${col("cached")}::boolean[])
        with ordinality as v(id, data_source_id, user_id, tenant_id, nlq, query, query_config, result_count, execution_time_ms, status, error, cached, ord)
      join data_sources s on s.id = v.data_source_id and s.tenant_id = v.tenant_id and s.is_active
      on conflict (id) do nothing
      returning data_queries.id`.execute(db);
    const inserted = new Set(res.rows.map((r) => r.id));
    // Not inserted: its source is gone, or the row is already there (the gateway retried after losing
    // the reply). The second counts as recorded, for the tenant that owns the row only.
    const missing = rows.filter((r) => !inserted.has(r.id));
    if (missing.length === 0) return inserted;
    const present = await db.selectFrom("data_queries").select(["id", "tenant_id"]).where("id", "in", missing.map((r) => r.id)).execute();
    const tenantOf = new Map(present.map((p) => [p.id, p.tenant_id]));
    for (const r of missing) if (tenantOf.get(r.id) === r.tenant_id) inserted.add(r.id);
    return inserted;
  };

  const drain = async () => {
    draining = true;
    while (queue.length) {
      const batch = queue.slice(0, MAX_BATCH);
      queue = queue.slice(batch.length);
      try {
        const inserted = await insert(batch.map((p) => p.row));
        for (const p of batch) p.done(inserted.has(p.row.id));
      } catch (e) {
        for (const p of batch) p.fail(e);
      }
    }
    draining = false;
  };

  return {
    write: (row: HistoryRow): Promise<boolean> =>
      new Promise<boolean>((done, fail) => {
        queue.push({ row: storableRow(row), done, fail });
        if (!draining) void drain();
      }),
  };
}
