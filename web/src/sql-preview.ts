import type { QueryConfig, SourceSchema } from "./types.ts";

/** The connector's dialect for each database type that speaks SQL. */
const DIALECTS = {
  postgresql: "postgres", redshift: "postgres", mysql: "mysql", mssql: "mssql",
  clickhouse: "clickhouse", snowflake: "snowflake", bigquery: "bigquery",
} as const;

export const hasSqlPreview = (dbType: string | null): dbType is keyof typeof DIALECTS => !!dbType && dbType in DIALECTS;

/**
 * The SQL a query_config runs as, compiled in the browser by the connector's own compiler
 * (the same code, so the preview cannot drift from what runs). Loaded on first use: it brings
 * Kysely's compilers and zod, which the first page does not need.
 */
export async function previewSql(dbType: string, qc: QueryConfig, schema: SourceSchema | null): Promise<{ sql: string; params: unknown[] }> {
  if (!hasSqlPreview(dbType)) throw new Error(`No SQL preview for ${dbType}`);
  await import("./zod-jitless.ts");
  const { compileQueryConfig } = await import("../../services/connector/src/query-config.ts");
  return compileQueryConfig(DIALECTS[dbType], qc, schema);
}
