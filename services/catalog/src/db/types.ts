import type { ColumnType, Generated, Kysely } from "kysely";

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
  connection_config: Json<Record<string, unknown>>;
  file_path: string | null;
  user_id: string;
  tenant_id: string;
  is_active: Generated<boolean>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
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
}

export type CatalogDb = Kysely<CatalogDatabase>;
