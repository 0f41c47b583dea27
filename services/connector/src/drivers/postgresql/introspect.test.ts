import { describe, expect, it } from "vitest";
import { introspectPostgres, introspectPostgresJson, PG_INTROSPECT_JSON_SQL, PG_INTROSPECT_JSON_STATEMENT } from "./introspect.ts";

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

describe("introspectPostgresJson on servers without a jit setting", () => {
  // No PostgreSQL 10 runs here: the catalog query stands in for one that refuses `set local jit`.
  it("sends the statement without `set local jit = off` when the server does not know the setting, and passes other errors on", async () => {
    const sent: string[] = [];
    const json = await introspectPostgresJson(async (sql) => {
      sent.push(sql);
      if (sql === PG_INTROSPECT_JSON_STATEMENT) throw Object.assign(new Error('unrecognized configuration parameter "jit"'), { code: "42704" });
      return [{ schema_name: "public", table_name: "t", kind: "table", row_estimate: 3, table_comment: null, columns_json: "[]" }];
    });
    expect(sent).toEqual([PG_INTROSPECT_JSON_STATEMENT, PG_INTROSPECT_JSON_SQL]);
    expect(JSON.parse(json.tablesJson)).toEqual([{ schema: "public", name: "t", kind: "table", rowCount: 3, columns: [] }]);
    const other = Object.assign(new Error("permission denied"), { code: "42501" });
    await expect(introspectPostgresJson(async () => { throw other; })).rejects.toBe(other);
  });
});
