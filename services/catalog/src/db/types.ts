import type { ColumnType, Generated, GeneratedAlways, Kysely } from "kysely";

/** jsonb read as a parsed value, written as a JSON string (both drivers pass strings through). */
type Json<T> = ColumnType<T | null, string | null, string | null>;

/** The seed's `data_sources` table (shared with the Python system). */
export interface DataSourcesTable {
  id: string;
  name: string;
  type: string;
  format: string | null;
  db_type: string | null;
  schema: Json<unknown>;
  /** `last_updated` of the latest refresh that left `schema` unchanged (ISO text); null after a schema is written. */
  schema_checked_at: ColumnType<string | null, string | null | undefined, string | null>;
  /** base64url SHA-256 of `JSON.stringify(schema.tables)` as last stored by the catalog (migration 6); null when unknown. */
  schema_sha256: ColumnType<string | null, string | null | undefined, string | null>;
  connection_config: Json<Record<string, unknown>>;
  file_path: string | null;
  user_id: string;
  tenant_id: string;
  is_active: Generated<boolean>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
  /** Query cache TTL of the source (migration 3); null: the default. */
  cache_ttl_seconds: ColumnType<number | null, number | null | undefined, number | null>;
  /** `{enabled, interval_seconds}` (migration 3); null: monitored at the default interval. */
  health_check: ColumnType<unknown, string | null | undefined, string | null>;
}

/** Latest health of a database source (migration 3). */
export interface DataSourceHealthTable {
  source_id: string;
  tenant_id: string;
  status: Generated<string>;
  checked_at: Date | null;
  last_success_at: Date | null;
  latency_ms: number | null;
  error_code: string | null;
  error_message: string | null;
  consecutive_failures: Generated<number>;
  next_check_at: Date | null;
  /** A scheduler is running this source's check until then (no other scheduler takes it). */
  claimed_until: Date | null;
}

/** The last checks of each source (migration 3), trimmed to HEALTH_CHECKS_KEPT. */
export interface DataSourceHealthChecksTable {
  id: Generated<string>;
  source_id: string;
  tenant_id: string;
  checked_at: Date;
  status: string;
  latency_ms: number | null;
  error_code: string | null;
  error_message: string | null;
}

/** The seed's `data_queries` table: query history. */
export interface DataQueriesTable {
  id: string;
  data_source_id: string;
  user_id: string;
  tenant_id: string;
  natural_language_query: string | null;
  query: string | null;
  query_config: Json<Record<string, unknown>>;
  result_count: number | null;
  execution_time_ms: number | null;
  status: string;
  error: string | null;
  created_at: Generated<Date>;
  /** Answered from the query result cache (migration 4); null in rows written by the Python system. */
  cached: boolean | null;
  /** md5 of the query text (sql, else query_config as JSON text), computed by PostgreSQL (migration 5): analytics group by it. */
  query_hash: GeneratedAlways<string>;
}

export interface CatalogMigrationsTable {
  version: number;
  name: string;
  applied_at: Generated<Date>;
}

export interface CatalogDatabase {
  data_sources: DataSourcesTable;
  data_queries: DataQueriesTable;
  catalog_migrations: CatalogMigrationsTable;
  data_source_health: DataSourceHealthTable;
  data_source_health_checks: DataSourceHealthChecksTable;
}

export type CatalogDb = Kysely<CatalogDatabase>;
