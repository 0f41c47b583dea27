import { describe, expect, it } from "vitest";
import { QueryPageSchema, QueryRequestSchema, refusedPipelineOperator } from "./query.ts";

describe("query contracts", () => {
  it("takes rows as arrays of any values and refuses anything else", () => {
    const page = { rows: [[1, "a", null, { x: 1 }], []], done: true, row_count: 2, execution_time_ms: 1 };
    expect(QueryPageSchema.parse(page).rows).toEqual(page.rows);
    for (const rows of [[1, 2], "rows", [[1], "x"], null]) expect(QueryPageSchema.safeParse({ ...page, rows }).success).toBe(false);
  });

  it("wants exactly one of sql and query_config", () => {
    expect(QueryRequestSchema.safeParse({ sql: "select 1" }).success).toBe(true);
    expect(QueryRequestSchema.safeParse({ query_config: {} }).success).toBe(true);
    expect(QueryRequestSchema.safeParse({}).success).toBe(false);
    expect(QueryRequestSchema.safeParse({ sql: "x", query_config: {} }).success).toBe(false);
  });

  it("takes a MongoDB {collection, pipeline} in place of sql, never with params or beside sql", () => {
    const q = { collection: "orders", pipeline: [{ $match: { status: "A" } }, { $limit: 5 }] };
    expect(QueryRequestSchema.safeParse(q).success).toBe(true);
    expect(QueryRequestSchema.safeParse({ ...q, sql: "select 1" }).success).toBe(false);
    expect(QueryRequestSchema.safeParse({ ...q, params: [1] }).success).toBe(false);
    expect(QueryRequestSchema.safeParse({ pipeline: q.pipeline }).success).toBe(false);
    expect(QueryRequestSchema.safeParse({ collection: "orders" }).success).toBe(false);
    expect(QueryRequestSchema.safeParse({ collection: "orders", pipeline: [{ $match: {}, $limit: 1 }] }).success).toBe(false);
    expect(QueryRequestSchema.safeParse({ collection: "a$b", pipeline: [] }).success).toBe(false);
  });

  it("refuses stages that write or run code anywhere in a pipeline, nested sub-pipelines included", () => {
    const refused = (pipeline: unknown[]) => {
      const r = QueryRequestSchema.safeParse({ collection: "c", pipeline });
      return r.success ? null : r.error.issues.map((i) => i.message).join("; ");
    };
    expect(refused([{ $out: "copy" }])).toMatch(/\$out is not allowed/);
    expect(refused([{ $merge: { into: "x" } }])).toMatch(/\$merge/);
    expect(refused([{ $match: { $where: "sleep(1000)" } }])).toMatch(/\$where/);
    expect(refused([{ $addFields: { x: { $function: { body: "f", args: [], lang: "js" } } } }])).toMatch(/\$function/);
    expect(refused([{ $group: { _id: null, x: { $accumulator: {} } } }])).toMatch(/\$accumulator/);
    expect(refused([{ $lookup: { from: "b", as: "j", pipeline: [{ $match: {} }, { $out: "z" }] } }])).toMatch(/\$out/);
    expect(refused([{ $facet: { a: [{ $merge: "m" }] } }])).toMatch(/\$merge/);
    expect(refused([{ $unionWith: { coll: "b", pipeline: [{ $match: { $where: "1" } }] } }])).toMatch(/\$where/);
    expect(refused([{ $match: { a: { $in: ["$out"] } } }, { $project: { out: 1 } }])).toBeNull();
    expect(refusedPipelineOperator({ a: [{ b: { $function: 1 } }] })).toBe("$function");
  });
});
