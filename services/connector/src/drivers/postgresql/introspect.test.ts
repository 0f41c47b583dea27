import { describe, expect, it } from "vitest";
import { introspectPostgres } from "./introspect.ts";

const row = (schema: string, table: string, column: string | null) => ({
  schema_name: schema, table_name: table, kind: "table", row_estimate: 1, table_comment: null,
  column_name: column, column_type: "integer", not_null: false, column_comment: null, is_pk: false,
});

describe("introspectPostgres grouping", () => {
  it("groups rows by relation in order, also when a relation's rows are not adjacent", async () => {
    const rows = [row("a", "t", "x"), row("a", "t", "y"), row("b", "t", "x"), row("a", "u", null), row("a", "t", "z")];
    const tables = await introspectPostgres(async () => rows);
    expect(tables.map((t) => [t.schema, t.name, t.columns.map((c) => c.name)])).toEqual([
      ["a", "t", ["x", "y", "z"]], ["b", "t", ["x"]], ["a", "u", []],
    ]);
  });
});
