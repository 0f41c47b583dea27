import { EJSON, type Document } from "bson";
import { AppError, refusedPipelineOperator } from "@dsb/contracts";

/** Where a result column's value is read from in each output document. */
export interface NativeColumn { name: string; path: string }

/**
 * What the connector hands the MongoDB driver as query text: a collection, an aggregation
 * pipeline and, for translated query_configs, the output columns in order. Extended JSON, so
 * typed values (ObjectId, dates, Decimal128) survive the trip.
 */
export interface NativeQuery { collection: string; pipeline: Document[]; columns?: NativeColumn[] }

export const nativeText = (q: NativeQuery): string => EJSON.stringify(q, { relaxed: false });

/** Parses query text into a NativeQuery; refuses what is not one, and stages that write or run code. */
export function parseNative(text: string): NativeQuery {
  let q: unknown;
  try {
    q = EJSON.parse(text, { relaxed: true });
  } catch {
    throw new AppError("VALIDATION", 'MongoDB sources take {"collection": "...", "pipeline": [...]} (or a query_config), not SQL');
  }
  const o = q as Partial<NativeQuery> | null;
  if (!o || typeof o !== "object" || typeof o.collection !== "string" || !o.collection || !Array.isArray(o.pipeline))
    throw new AppError("VALIDATION", 'MongoDB sources take {"collection": "...", "pipeline": [...]} (or a query_config), not SQL');
  const bad = refusedPipelineOperator(o.pipeline);
  if (bad) throw new AppError("VALIDATION", `${bad} is not allowed: queries are read-only and run no server-side code`);
  return { collection: o.collection, pipeline: o.pipeline, ...(o.columns ? { columns: o.columns } : {}) };
}
