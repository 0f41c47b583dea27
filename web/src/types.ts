// Shapes of the public REST API (../shared/API.md). Type-only imports: they cost the bundle nothing.
import type {
  ColumnMeta, DatabaseInfo, DataSource, FieldInfo, HealthStatus, HistoryEntry, LoginWarning, QueryConfig, SchemaChange, SchemaTable, SourceSchema,
} from "@dsb/contracts";

export type { ColumnMeta, DatabaseInfo, FieldInfo, HealthStatus, HistoryEntry, LoginWarning, QueryConfig, SchemaChange, SchemaTable, SourceSchema };

/** A source as the list and get endpoints return it; `health` (database sources) may be absent. */
export type Source = DataSource;

export interface QueryResult {
  columns: ColumnMeta[];
  rows: unknown[][];
  row_count: number;
  truncated: boolean;
  execution_time_ms: number;
  query_id: string | null;
  cached?: boolean;
}

/** What the console sends to POST /sources/{id}/query. */
export interface QueryBody {
  sql?: string;
  params?: unknown[];
  query_config?: QueryConfig;
  limit?: number;
  query_id?: string;
}

export interface SourceStats {
  queries: number;
  errors: number;
  cached?: number;
  p50_ms: number | null;
  p95_ms: number | null;
  max_ms: number | null;
  rows?: number;
  by_day: { day: string; queries: number; errors: number; p50_ms: number | null }[];
  slowest: { query_id: string; query: string | null; execution_time_ms: number; created_at: string }[];
  frequent: { query: string | null; count: number; p50_ms: number | null }[];
}
