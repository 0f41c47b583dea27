import { z } from "zod";

export const FILTER_OPS = ["=", "!=", "<", "<=", ">", ">=", "in", "contains", "is_null"] as const;
export const AGG_FNS = ["count", "sum", "avg", "min", "max"] as const;
const ident = z.string().min(1).max(256);

/** The structured query of API.md; compiled per dialect for databases, run with arquero for files. */
export const QueryConfigSchema = z.object({
  table: ident.optional(),
  select: z.array(ident).optional(),
  filters: z.array(z.object({ column: ident, op: z.enum(FILTER_OPS), value: z.unknown().optional() })).optional(),
  group_by: z.array(ident).optional(),
  aggregates: z.array(z.object({ fn: z.enum(AGG_FNS), column: ident.optional(), as: ident.optional() })).optional(),
  order_by: z.array(z.object({ column: ident, desc: z.boolean().optional() })).optional(),
  limit: z.number().int().min(0).optional(),
  offset: z.number().int().min(0).optional(),
});
export type QueryConfig = z.infer<typeof QueryConfigSchema>;

/**
 * Aggregation stages and operators that write or run server-side code: refused anywhere in a
 * MongoDB pipeline, nested sub-pipelines ($lookup, $facet, $unionWith) and expressions included.
 */
export const REFUSED_PIPELINE_OPERATORS = ["$out", "$merge", "$function", "$accumulator", "$where"] as const;
const REFUSED = new Set<string>(REFUSED_PIPELINE_OPERATORS);

/** The first refused operator anywhere in `value` (any depth), or null. */
export function refusedPipelineOperator(value: unknown, depth = 0): string | null {
  if (depth > 200) return "nesting deeper than 200 levels";
  if (Array.isArray(value)) {
    for (const v of value) {
      const r = refusedPipelineOperator(v, depth + 1);
      if (r) return r;
    }
    return null;
  }
  if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      if (REFUSED.has(k)) return k;
      const r = refusedPipelineOperator(v, depth + 1);
      if (r) return r;
    }
  }
  return null;
}

/** A MongoDB collection name (not a system or internal namespace trick: no `$`, no NUL). */
export const CollectionNameSchema = z.string().min(1).max(255).regex(/^[^$\u0000]+$/, "collection must be a name without $ or NUL");

/**
 * A MongoDB aggregation pipeline in Extended JSON (`{"$oid": …}`, `{"$date": …}`,
 * `{"$numberDecimal": …}` for typed values): stages of one `$` key each; read-only
 * by construction, so stages that write or run code are refused.
 */
export const PipelineSchema = z
  .array(z.record(z.string(), z.unknown()).refine((s) => Object.keys(s).length === 1 && Object.keys(s)[0]!.startsWith("$"), {
    message: "each pipeline stage is an object with one $-key, e.g. {\"$match\": {…}}",
  }))
  .max(1000)
  .superRefine((p, ctx) => {
    const bad = refusedPipelineOperator(p);
    if (bad) ctx.addIssue({ code: "custom", message: `${bad} is not allowed: queries are read-only and run no server-side code (refused: ${REFUSED_PIPELINE_OPERATORS.join(", ")})` });
  });

/** POST /sources/{id}/query body. */
export const QueryRequestSchema = z
  .object({
    sql: z.string().min(1).max(1_000_000).optional(),
    /** MongoDB: the collection a native `pipeline` runs on (in place of `sql`). */
    collection: CollectionNameSchema.optional(),
    /** MongoDB: an aggregation pipeline run on `collection` (in place of `sql`). */
    pipeline: PipelineSchema.optional(),
    params: z.array(z.unknown()).max(10_000).optional(),
    query_config: QueryConfigSchema.optional(),
    limit: z.number().int().min(1).optional(),
    timeout_ms: z.number().int().min(1).max(3_600_000).optional(),
    natural_language_query: z.string().max(10_000).optional(),
    read_only: z.boolean().optional(),
    /** Chosen by the client to cancel the query by id later; 409 CONFLICT while a query with this id runs. */
    query_id: z.string().uuid().optional(),
    /** Query result cache: `use` (default) reads and writes it, `bypass` neither, `refresh` runs and writes. */
    cache: z.enum(["use", "bypass", "refresh"]).optional(),
    /** Seconds a result may be answered from the cache; overrides the source's and QUERY_CACHE_TTL_S. 0: not cached. */
    cache_ttl_seconds: z.number().int().min(0).max(7 * 86_400).optional(),
  })
  .refine((q) => [q.sql, q.query_config, q.pipeline].filter((x) => x !== undefined).length === 1, {
    message: "Send exactly one of sql, query_config or (MongoDB) {collection, pipeline}",
  })
  .refine((q) => (q.pipeline === undefined) === (q.collection === undefined), { message: "collection and pipeline go together", path: ["collection"] })
  .refine((q) => !(q.pipeline && q.params), { message: "a pipeline takes no params; write the values into it", path: ["params"] });
export type QueryRequest = z.infer<typeof QueryRequestSchema>;

export const ColumnMetaSchema = z.object({ name: z.string(), type: z.string() });
export type ColumnMeta = z.infer<typeof ColumnMetaSchema>;

/**
 * Rows as arrays in column order. Cells are unknown, so checking each one with
 * zod would only cost time (pages carry ~100k cells and cross two validations):
 * the check is the same, done in one pass.
 */
export const RowsSchema = z.custom<unknown[][]>(
  (v) => Array.isArray(v) && v.every((r) => Array.isArray(r)),
  { message: "rows must be an array of arrays" },
);

/** A cursor left open on the replica that owns it; pull with its subject until `done`. */
export const CursorRefSchema = z.object({ subject: z.string(), id: z.string() });
export type CursorRef = z.infer<typeof CursorRefSchema>;

/**
 * One page of a result, sized in bytes to fit one bus message.
 * `columns` is sent on the first page; `cursor` is set while more pages remain.
 */
export const QueryPageSchema = z.object({
  columns: z.array(ColumnMetaSchema).optional(),
  rows: RowsSchema,
  /**
   * CSV records (no header, `\n` line ends) when the caller asked for `format: "csv"` and the
   * source produces CSV itself (PostgreSQL COPY); `rows` is empty then. Written through as is.
   */
  csv: z.string().optional(),
  /**
   * The page's export records travel as the bus message's binary attachment (bus `WithBytes`)
   * instead of in `csv`: CSV records (`\r\n` record ends) for `format: "csv"`, NDJSON lines
   * for `format: "ndjson"`. No escaping, no string; `rows` is empty.
   */
  csv_attached: z.boolean().optional(),
  done: z.boolean(),
  cursor: CursorRefSchema.optional(),
  truncated: z.boolean().default(false),
  /** Rows sent so far including this page. */
  row_count: z.number().int(),
  execution_time_ms: z.number(),
});
export type QueryPage = z.infer<typeof QueryPageSchema>;

export const CursorRequestSchema = z.object({ id: z.string(), action: z.enum(["next", "close"]).default("next") });

export const HISTORY_STATUS = ["success", "error"] as const;
export const HistoryEntrySchema = z.object({
  id: z.string(),
  data_source_id: z.string(),
  user_id: z.string(),
  query: z.string().nullable(),
  query_config: z.record(z.string(), z.unknown()).nullable(),
  natural_language_query: z.string().nullable(),
  status: z.enum(HISTORY_STATUS),
  error: z.string().nullable(),
  result_count: z.number().int().nullable(),
  execution_time_ms: z.number().int().nullable(),
  created_at: z.string(),
  /** Answered from the query result cache. */
  cached: z.boolean().optional(),
});
export type HistoryEntry = z.infer<typeof HistoryEntrySchema>;
