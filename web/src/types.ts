// Shapes of the public REST API (../shared/API.md). Type-only imports: they cost the bundle nothing.
import type {
  ColumnMeta, DatabaseInfo, DataSource, FieldInfo, HistoryEntry, QueryConfig, SchemaChange, SchemaTable, SourceSchema,
} from "@dsb/contracts";

export type { ColumnMeta, DatabaseInfo, FieldInfo, HistoryEntry, QueryConfig, SchemaChange, SchemaTable, SourceSchema };

export const HEALTH_STATUSES = ["unknown", "healthy", "degraded", "unhealthy"] as const;
export type HealthStatus = (typeof HEALTH_STATUSES)[number];

/** A source's health (second release); absent on servers that do not monitor health yet. */
export interface Health {
  status: HealthStatus;
  checked_at?: string | null;
  latency_ms?: number | null;
  error?: { code: string; message: string } | null;
  consecutive_failures?: number;
}

/** A source as the list and get endpoints return it; `health` when the server has it. */
export type Source = DataSource & { health?: Health | null };

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
