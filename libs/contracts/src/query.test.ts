import { describe, expect, it } from "vitest";
import { QueryPageSchema, QueryRequestSchema } from "./query.ts";

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
});
