import type { QueryResultRows } from "./cache/index.ts";

/** `"columns":[…],"rows":[…]` of results answered from the cache: a hot entry's parsed rows are one object for every hit. */
const cachedFragments = new WeakMap<QueryResultRows, string>();

function columnsAndRows(result: QueryResultRows, cached: boolean): string {
  let fragment = cached ? cachedFragments.get(result) : undefined;
  if (fragment === undefined) {
    fragment = `"columns":${JSON.stringify(result.columns)},"rows":${JSON.stringify(result.rows)}`;
    if (cached) cachedFragments.set(result, fragment);
  }
  return fragment;
}

/**
 * The JSON text of a query's answer: `{success, columns, rows, row_count, truncated,
 * execution_time_ms, query_id, cached, cached_at?}`, the same text JSON.stringify gives for
 * that object, but a cached result's columns and rows are serialised once, not on every hit.
 */
export function queryAnswerJson(result: QueryResultRows, a: { ms: number; queryId: string; cached: boolean; cachedAt: string | null }): string {
  // Numbers and booleans as JSON.stringify writes them (`ms` is a finite number), the strings through it.
  const cachedAt = a.cached && a.cachedAt ? `,"cached_at":${JSON.stringify(a.cachedAt)}` : "";
  return `{"success":true,${columnsAndRows(result, a.cached)},"row_count":${result.rows.length},"truncated":${result.truncated},`
    + `"execution_time_ms":${a.ms},"query_id":${JSON.stringify(a.queryId)},"cached":${a.cached}${cachedAt}}`;
}
