import { z } from "zod";

/** Totals of a source's history since a time (API.md "Query analytics"). Durations in ms; null without queries. */
export const QueryTotalsSchema = z.object({
  queries: z.number().int(),
  errors: z.number().int(),
  /** Answered from the query result cache. */
  cached: z.number().int(),
  p50_ms: z.number().nullable(),
  p95_ms: z.number().nullable(),
  max_ms: z.number().nullable(),
  /** Rows returned in all (result_count summed). */
  rows: z.number(),
});
export type QueryTotals = z.infer<typeof QueryTotalsSchema>;

/** GET /sources/{id}/stats: totals, a line per UTC day, the 10 slowest and the 10 most frequent queries. */
export const QueryStatsSchema = QueryTotalsSchema.extend({
  by_day: z.array(z.object({ day: z.string(), queries: z.number().int(), errors: z.number().int(), p50_ms: z.number().nullable() })),
  slowest: z.array(z.object({ query_id: z.string(), query: z.string().nullable(), execution_time_ms: z.number().int(), created_at: z.string() })),
  /** By exact query text (`query_config` as JSON text when no sql). */
  frequent: z.array(z.object({ query: z.string().nullable(), count: z.number().int(), p50_ms: z.number().nullable() })),
});
export type QueryStats = z.infer<typeof QueryStatsSchema>;

/** GET /stats: the totals of every active source of the tenant. */
export const SourceStatsSchema = QueryTotalsSchema.extend({ id: z.string(), name: z.string(), type: z.string(), db_type: z.string().nullable() });
export type SourceStats = z.infer<typeof SourceStatsSchema>;

/** `?since=` of the stats routes; default 30 days back. */
export const STATS_DEFAULT_DAYS = 30;
