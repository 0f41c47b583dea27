import { sql, type Selectable } from "kysely";
import { HISTORY_STATUS, redactConfig, SourceSchemaSchema, type DataSource, type HistoryEntry } from "@dsb/contracts";
import { healthSettings } from "./health/store.ts";
import type { DataQueriesTable, DataSourcesTable } from "./db/types.ts";

/**
 * Timestamps leave the database as ISO-8601 UTC text with microseconds (sessions
 * run in UTC): the exact value, so a cursor built from it never skips a row.
 */
export const isoColumn = <C extends "created_at" | "updated_at">(col: C) =>
  sql<string>`to_char(${sql.ref(col)}, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as(col);

type WithIso<T, K extends keyof T> = Omit<T, K> & { [P in K]: string };
/** A source as read for the API (schema_sha256 is the catalog's own bookkeeping, never read out). */
export type SourceRow = WithIso<Omit<Selectable<DataSourcesTable>, "schema_sha256">, "created_at" | "updated_at">;

export const SOURCE_COLUMNS = [
  "id", "name", "type", "format", "db_type", "schema", "schema_checked_at", "connection_config", "file_path", "user_id", "tenant_id", "is_active",
  "cache_ttl_seconds", "health_check",
] as const;
export const HISTORY_COLUMNS = [
  "id", "data_source_id", "user_id", "query", "query_config", "natural_language_query", "status", "error", "result_count", "execution_time_ms", "cached",
] as const;

export type HistoryRow = WithIso<Pick<Selectable<DataQueriesTable>, (typeof HISTORY_COLUMNS)[number] | "created_at">, "created_at">;

/** jsonb as stored by us is parsed by the driver; a Python `text` column would hand us a string. */
export function asObject(v: unknown): Record<string, unknown> | null {
  if (typeof v === "string") {
    try { v = JSON.parse(v); } catch { return null; }
  }
  return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

export const toJson = (v: unknown): string | null => (v === undefined || v === null ? null : JSON.stringify(v));

/** A stored row as it may leave the catalog: secrets redacted, no markers, no ciphertext. */
export function toDataSource(row: SourceRow): DataSource {
  const config = asObject(row.connection_config);
  const stored = asObject(row.schema);
  // A later refresh that found the same tables kept its time apart instead of rewriting the jsonb.
  if (stored && row.schema_checked_at) stored.last_updated = row.schema_checked_at;
  const schema = SourceSchemaSchema.safeParse(stored);
  return {
    id: row.id, name: row.name, type: row.type === "file" ? "file" : "database", format: row.format, db_type: row.db_type,
    // A schema written in another shape (older Python rows) reads as "not introspected yet".
    schema: schema.success ? schema.data : null,
    connection_config: config ? redactConfig(config) : null,
    file_path: row.file_path, user_id: row.user_id, tenant_id: row.tenant_id, is_active: row.is_active,
    created_at: row.created_at, updated_at: row.updated_at,
    cache_ttl_seconds: row.cache_ttl_seconds ?? null,
    health_check: row.health_check == null ? null : healthSettings(row.health_check),
  };
}

export function toHistoryEntry(row: HistoryRow): HistoryEntry {
  const status = (HISTORY_STATUS as readonly string[]).includes(row.status) ? (row.status as HistoryEntry["status"])
    : row.status === "failed" ? "error" : "success";
  return {
    id: row.id, data_source_id: row.data_source_id, user_id: row.user_id, query: row.query,
    query_config: asObject(row.query_config), natural_language_query: row.natural_language_query, status, error: row.error,
    result_count: row.result_count, execution_time_ms: row.execution_time_ms, created_at: row.created_at, cached: row.cached === true,
  };
}
