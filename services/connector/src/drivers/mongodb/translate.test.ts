import { Binary, BSONRegExp, Decimal128, Double, Int32, Long, ObjectId, Timestamp, type Document } from "bson";
import { describe, expect, it } from "vitest";
import type { SchemaTable } from "@dsb/contracts";
import { compileQueryConfig } from "../../query-config.ts";
import { columnsFromSample } from "./introspect.ts";
import { parseNative } from "./native.ts";
import { queryConfigPipeline, typedValue } from "./translate.ts";
import { apiValue, bsonTypeName } from "./values.ts";

const orders: SchemaTable = {
  schema: "shop", name: "orders", kind: "collection", columns: [
    { name: "_id", type: "objectId", nullable: false, primary_key: true }, { name: "region", type: "string", nullable: false },
    { name: "amount", type: "decimal", nullable: true }, { name: "at", type: "date", nullable: true }, { name: "customer.city", type: "string", nullable: true },
  ],
};
const schema = { tables: [orders], schemas: ["shop"], total_rows: 0, last_updated: "x" };

describe("query_config → aggregation pipeline", () => {
  it("filters become one $match with SQL semantics; values typed by the column", () => {
    const q = queryConfigPipeline(orders, {
      table: "orders", select: ["region", "customer.city"],
      filters: [
        { column: "region", op: "!=", value: "EU" }, { column: "at", op: ">=", value: "2024-01-01T00:00:00Z" },
        { column: "_id", op: "=", value: "65a1b2c3d4e5f60718293a4b" }, { column: "amount", op: "in", value: ["1.50", null] },
        { column: "customer.city", op: "contains", value: "os." }, { column: "amount", op: "is_null", value: false },
      ],
      order_by: [{ column: "at", desc: true }], limit: 10, offset: 20,
    });
    expect(q.collection).toBe("orders");
    expect(q.pipeline).toEqual([
      { $match: { $and: [
        { region: { $nin: ["EU", null] } }, { at: { $gte: new Date("2024-01-01T00:00:00Z") } },
        { _id: { $eq: new ObjectId("65a1b2c3d4e5f60718293a4b") } }, { amount: { $in: [Decimal128.fromString("1.50")] } },
        { $expr: { $regexMatch: { input: { $convert: { input: "$customer.city", to: "string", onError: "", onNull: "" } }, regex: "os\\.", options: "i" } } },
        { amount: { $ne: null } },
      ] } },
      { $sort: { at: -1 } }, { $skip: 20 }, { $limit: 10 }, { $project: { _id: 0, region: 1, "customer.city": 1 } },
    ]);
    expect(q.columns).toEqual([{ name: "region", path: "region" }, { name: "customer.city", path: "customer.city" }]);
  });

  it("group_by and aggregates become $group; columns are the keys then the aggregates, order by either", () => {
    const q = queryConfigPipeline(orders, {
      table: "orders", group_by: ["region"], aggregates: [{ fn: "count" }, { fn: "count", column: "amount" }, { fn: "avg", column: "amount", as: "mean" }],
      order_by: [{ column: "mean", desc: true }, { column: "region" }],
    });
    expect(q.pipeline).toEqual([
      { $group: { _id: { k0: "$region" }, a0: { $sum: 1 }, a1: { $sum: { $cond: [{ $eq: [{ $ifNull: ["$amount", null] }, null] }, 0, 1] } }, a2: { $avg: "$amount" } } },
      { $sort: { a2: -1, "_id.k0": 1 } },
    ]);
    expect(q.columns).toEqual([{ name: "region", path: "_id.k0" }, { name: "count", path: "a0" }, { name: "count_amount", path: "a1" }, { name: "mean", path: "a2" }]);
    expect(() => queryConfigPipeline(orders, { table: "orders", group_by: ["region"], aggregates: [{ fn: "count" }], order_by: [{ column: "at" }] })).toThrow(/order a grouped query/);
  });

  it("compileQueryConfig checks names against the stored schema and yields Extended JSON the driver parses back", () => {
    expect(() => compileQueryConfig("mongodb", { table: "orders", select: ["nope"] }, schema)).toThrow(/Unknown column nope/);
    const text = compileQueryConfig("mongodb", { table: "shop.orders", filters: [{ column: "_id", op: "=", value: "65a1b2c3d4e5f60718293a4b" }] }, schema).sql;
    const back = parseNative(text);
    expect((back.pipeline[0] as Document).$match._id.$eq).toBeInstanceOf(ObjectId);
    expect(compileQueryConfig("mongodb", { table: "orders", limit: 0 }, schema).sql).toContain("$expr");
  });

  it("typedValue leaves values alone when the column type does not call for a conversion", () => {
    expect(typedValue("string", "2024-01-01")).toBe("2024-01-01");
    expect(typedValue("date", "not a date")).toBe("not a date");
    expect(typedValue("objectId", "xyz")).toBe("xyz");
    expect(typedValue("long", "9007199254740993")).toEqual(Long.fromString("9007199254740993"));
  });
});

describe("BSON values and types", () => {
  it("maps every BSON type to API.md's JSON", () => {
    expect(apiValue(new Int32(5))).toBe(5);
    expect(apiValue(new Double(1.5))).toBe(1.5);
    expect(apiValue(new Double(Number.NaN))).toBe("NaN");
    expect(apiValue(Long.fromString("9007199254740991"))).toBe(9007199254740991);
    expect(apiValue(Long.fromString("9007199254740992"))).toBe("9007199254740992");
    expect(apiValue(Decimal128.fromString("0.10"))).toBe("0.10");
    expect(apiValue(new ObjectId("65a1b2c3d4e5f60718293a4b"))).toBe("65a1b2c3d4e5f60718293a4b");
    expect(apiValue(new Date("2024-01-02T03:04:05Z"))).toBe("2024-01-02T03:04:05.000Z");
    expect(apiValue(new Binary(Buffer.from([0, 1, 2, 255])))).toBe("AAEC/w==");
    expect(apiValue(new BSONRegExp("^a", "i"))).toBe("/^a/i");
    expect(apiValue(new Timestamp({ t: 10, i: 2 }))).toEqual({ t: 10, i: 2 });
    expect(apiValue({ a: { b: [new Int32(1), null] } })).toEqual({ a: { b: [1, null] } });
    expect(apiValue(undefined)).toBeNull();
  });

  it("names types as $type does", () => {
    expect([new Int32(1), new Double(1), Long.fromNumber(1), Decimal128.fromString("1"), new ObjectId(), new Date(), new Binary(Buffer.from("x")), "s", true, null, [], {}]
      .map(bsonTypeName)).toEqual(["int", "double", "long", "decimal", "objectId", "date", "binData", "string", "bool", "null", "array", "object"]);
  });

  it("sampled columns: commonest type, nullable unless always present with a value", () => {
    const cols = columnsFromSample([{ _id: 1, v: new Int32(1), o: { x: "a" } }, { _id: 2, v: "two", o: { x: null } }, { _id: 3, v: new Int32(3) }]);
    expect(cols).toEqual([
      { name: "_id", type: "int", nullable: false, primary_key: true }, { name: "v", type: "int", nullable: false, primary_key: false },
      { name: "o.x", type: "string", nullable: true, primary_key: false },
    ]);
  });
});
