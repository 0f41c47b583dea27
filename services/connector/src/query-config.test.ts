import { describe, expect, it } from "vitest";
import type { QueryConfig, SourceSchema } from "@dsb/contracts";
import { compileQueryConfig, mssqlNamedParams } from "./query-config.ts";

const schema: SourceSchema = {
  tables: [
    { schema: "public", name: "orders", kind: "table", columns: [
      { name: "id", type: "int", nullable: false }, { name: "region", type: "text", nullable: true }, { name: "amount", type: "numeric", nullable: true },
    ] },
    { schema: "sales", name: "orders", kind: "table", columns: [{ name: "id", type: "int", nullable: false }] },
    { schema: "public", name: "weird\"name", kind: "table", columns: [{ name: "a`b\"c", type: "int", nullable: false }] },
  ],
  schemas: ["public", "sales"], total_rows: 0, last_updated: "2025-01-01T00:00:00Z",
};

const full: QueryConfig = {
  table: "public.orders", select: ["region"],
  filters: [
    { column: "region", op: "=", value: "EU" }, { column: "id", op: "in", value: [1, 2] },
    { column: "region", op: "contains", value: "e" }, { column: "amount", op: "is_null", value: false },
  ],
  group_by: ["region"], aggregates: [{ fn: "sum", column: "amount", as: "total" }, { fn: "count" }],
  order_by: [{ column: "total", desc: true }], limit: 10, offset: 5,
};

describe("compileQueryConfig", () => {
  it("postgres: Kysely's compiler, $n placeholders, values bound", () => {
    expect(compileQueryConfig("postgres", full, schema)).toEqual({
      sql: 'select "region" as "region", sum("amount") as "total", count(*) as "count" from "public"."orders" as "t" where "region" = $1 and "id" in ($2, $3) and strpos(lower("region"::text), lower($4)) > 0 and "amount" is not null group by "region" order by "total" desc limit 10 offset 5',
      params: ["EU", 1, 2, "e"],
    });
  });

  it("mysql: backticks and ? placeholders", () => {
    expect(compileQueryConfig("mysql", full, schema)).toEqual({
      sql: "select `region` as `region`, sum(`amount`) as `total`, count(*) as `count` from `public`.`orders` as `t` where `region` = ? and `id` in (?, ?) and locate(lower(?), lower(`region`)) > 0 and `amount` is not null group by `region` order by `total` desc limit 10 offset 5",
      params: ["EU", 1, 2, "e"],
    });
    expect(compileQueryConfig("mysql", { table: "public.orders", offset: 3 }, schema).sql).toBe("select * from `public`.`orders` as `t` limit 18446744073709551615 offset 3");
  });

  it("mssql: @pN placeholders, offset/fetch, top", () => {
    expect(compileQueryConfig("mssql", full, schema)).toEqual({
      sql: 'select "region" as "region", sum("amount") as "total", count(*) as "count" from "public"."orders" as "t" where "region" = @p1 and "id" in (@p2, @p3) and charindex(lower(@p4), lower(cast("region" as nvarchar(max)))) > 0 and "amount" is not null group by "region" order by "total" desc offset 5 rows fetch next @p5 rows only',
      params: ["EU", 1, 2, "e", 10],
    });
    expect(compileQueryConfig("mssql", { table: "public.orders", limit: 3 }, schema).sql).toBe('select top(3) * from "public"."orders" as "t"');
    expect(compileQueryConfig("mssql", { table: "public.orders", offset: 2 }, schema).sql).toBe('select * from "public"."orders" as "t" order by (select null) offset 2 rows');
    expect(mssqlNamedParams(`select "@1" from t where a = @1 and b = '@2'`)).toBe(`select "@1" from t where a = @p1 and b = '@2'`);
  });

  it("clickhouse: typed {pN:Type} placeholders", () => {
    expect(compileQueryConfig("clickhouse", full, schema)).toEqual({
      sql: "select `region`, sum(`amount`) as `total`, count(*) as `count` from `public`.`orders` where `region` = {p1:String} and `id` in ({p2:Int64}, {p3:Int64}) and positionCaseInsensitiveUTF8(toString(`region`), {p4:String}) > 0 and `amount` is not null group by `region` order by `total` desc limit 10 offset 5",
      params: ["EU", 1, 2, "e"],
    });
  });

  it("snowflake: double quotes and ?", () => {
    const c = compileQueryConfig("snowflake", { table: "public.orders", filters: [{ column: "amount", op: ">=", value: 2.5 }, { column: "region", op: "!=", value: "x" }] }, schema);
    expect(c).toEqual({ sql: 'select * from "public"."orders" where "amount" >= ? and "region" <> ?', params: [2.5, "x"] });
  });

  it("bigquery: backticks and ?", () => {
    const c = compileQueryConfig("bigquery", { table: "public.orders", select: ["id"], filters: [{ column: "region", op: "contains", value: "eu" }], limit: 1 }, schema);
    expect(c).toEqual({ sql: "select `id` from `public`.`orders` where STRPOS(LOWER(CAST(`region` AS STRING)), LOWER(?)) > 0 limit 1", params: ["eu"] });
  });

  it("quotes hostile identifiers and never inlines values", () => {
    const qc: QueryConfig = { table: 'public.weird"name', select: ['a`b"c'], filters: [{ column: 'a`b"c', op: "=", value: "'; drop table x; --" }] };
    expect(compileQueryConfig("postgres", qc, schema).sql).toBe('select "a`b""c" as "a`b""c" from "public"."weird""name" as "t" where "a`b""c" = $1');
    expect(compileQueryConfig("mysql", qc, schema).sql).toBe('select `a``b"c` as `a``b"c` from `public`.`weird"name` as `t` where `a``b"c` = ?');
    expect(compileQueryConfig("bigquery", qc, schema).sql).toBe('select `a``b"c` from `public`.`weird"name` where `a``b"c` = ?');
    for (const d of ["postgres", "mysql", "mssql", "clickhouse", "snowflake", "bigquery"] as const)
      expect(compileQueryConfig(d, qc, schema).sql).not.toContain("drop table");
  });

  it("checks identifiers against the stored schema", () => {
    expect(() => compileQueryConfig("postgres", { table: "public.orders", select: ["nope"] }, schema)).toThrow(
      "Unknown column nope in table public.orders. Known columns: id, region, amount");
    expect(() => compileQueryConfig("postgres", { table: "public.orders", order_by: [{ column: "x" }] }, schema)).toThrow(/Unknown column x/);
    expect(() => compileQueryConfig("postgres", { table: "nope" }, schema)).toThrow(/Unknown table nope. Known tables: public.orders, sales.orders/);
    expect(() => compileQueryConfig("postgres", { table: "orders" }, schema)).toThrow(/several schemas/);
    expect(() => compileQueryConfig("postgres", {}, schema)).toThrow(/query_config.table is required/);
    expect(() => compileQueryConfig("postgres", { table: "public.orders", filters: [{ column: "id", op: "in", value: 3 }] }, schema)).toThrow(/needs an array/);
    expect(() => compileQueryConfig("postgres", { table: "public.orders", aggregates: [{ fn: "sum" }] }, schema)).toThrow(/needs a column/);
  });

  it("handles empty in-lists and is_null", () => {
    const c = compileQueryConfig("postgres", { table: "public.orders", filters: [{ column: "id", op: "in", value: [] }, { column: "region", op: "is_null" }] }, schema);
    expect(c.sql).toBe('select * from "public"."orders" as "t" where 1 = 0 and "region" is null');
  });
});
