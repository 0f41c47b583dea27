import { Binary, Decimal128, Long, ObjectId, type Document } from "bson";
import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MongodbConfigSchema, type SourceSchema } from "@dsb/contracts";
import { connectChecked } from "../../address-policy.ts";
import { compileQueryConfig } from "../../query-config.ts";
import { drain, driverSuite } from "../../../../../test/support/drivers/suite.ts";
import { DriverError, type Connection } from "../types.ts";
import type { MongodbConfig } from "./config.ts";
import { mongodbDriver } from "./driver.ts";
import { nativeText } from "./native.ts";
import { startMongoStandIn, type MongoStandIn } from "../../../../../test/support/stand-ins/mongodb.ts";

const USER = { name: "dsb_reader", password: "correct-horse-battery" };
const DB = "dsb_suite";
const TABLE = "dsb_suite_items";

const suiteDocs = (): Document[] => [
  { _id: 1, name: "alpha", amount: Decimal128.fromString("10.50"), big: Long.fromString("9007199254740993"), created_at: new Date("2024-01-02T03:04:05Z"), flag: true },
  { _id: 2, name: "beta", amount: null, big: Long.fromNumber(2), created_at: new Date("2024-02-03T04:05:06Z"), flag: false },
  { _id: 3, name: "gamma", amount: Decimal128.fromString("7.25"), big: Long.fromNumber(3), created_at: null, flag: null },
];
const VIEW_PIPELINE = [{ $project: { name: 1 } }];

/** The stored schema the suite's statements are translated against (what introspection finds). */
const SUITE_SCHEMA: SourceSchema = {
  tables: [{
    schema: DB, name: TABLE, kind: "collection", rowCount: 3, columns: [
      { name: "_id", type: "int", nullable: false, primary_key: true }, { name: "name", type: "string", nullable: false },
      { name: "amount", type: "decimal", nullable: true }, { name: "big", type: "long", nullable: false },
      { name: "created_at", type: "date", nullable: true }, { name: "flag", type: "bool", nullable: true },
    ],
  }],
  schemas: [DB], total_rows: 3, last_updated: "2024-01-01T00:00:00Z",
};

/**
 * The suite's SQL statements as MongoDB queries: simple SELECTs become query_configs run
 * through the real translation (compileQueryConfig), a bad column an unknown stage.
 */
function native(sql: string, params: readonly unknown[]): { text: string; params: unknown[] } {
  const s = sql.replace(/\s+/g, " ").trim();
  const id = (c: string) => (c === "id" ? "_id" : c);
  if (/no_such_column/.test(s)) return { text: nativeText({ collection: TABLE, pipeline: [{ $noSuchStage: {} }] }), params: [] };
  if (new RegExp(`^select count\\(\\*\\) from ${TABLE}$`).test(s))
    return { text: compileQueryConfig("mongodb", { table: TABLE, aggregates: [{ fn: "count" }] }, SUITE_SCHEMA).sql, params: [] };
  const m = new RegExp(`^select (.+?) from ${TABLE}(?: where (\\w+) = \\?)?(?: order by (\\w+))?$`).exec(s);
  if (m) {
    const qc = {
      table: TABLE, select: m[1]!.split(",").map((c) => id(c.trim())),
      ...(m[2] ? { filters: [{ column: id(m[2]), op: "=" as const, value: params[0] }] } : {}),
      ...(m[3] ? { order_by: [{ column: id(m[3]) }] } : {}),
    };
    return { text: compileQueryConfig("mongodb", qc, SUITE_SCHEMA).sql, params: [] };
  }
  return { text: sql, params: [...params] };
}

const harness = {
  type: "mongodb" as const,
  table: TABLE,
  placeholder: () => "?",
  native,
  idColumn: "_id",
  tableKind: "collection",
  setupSql: [],
  teardownSql: [],
  // Read-only by construction: the driver refuses $out before anything is sent.
  writeSql: JSON.stringify({ collection: TABLE, pipeline: [{ $out: "dsb_suite_copy" }] }),
  markSql: (_m: string, sql: string) => sql,
};

let standIn: MongoStandIn | null = null;
async function seededStandIn(): Promise<MongoStandIn> {
  const s = await startMongoStandIn({ user: USER, slowCollections: ["dsb_suite_slow"] });
  s.setCollection(DB, TABLE, suiteDocs());
  s.setView(DB, "dsb_suite_view", TABLE, VIEW_PIPELINE);
  return s;
}
const standInConfig = (s: MongoStandIn, extra: Record<string, unknown> = {}): MongodbConfig =>
  MongodbConfigSchema.parse({ type: "mongodb", host: s.host, port: s.port, database: DB, username: USER.name, password: USER.password, ...extra });

/** The shared suite through the real mongodb driver against the wire-protocol stand-in. */
driverSuite<MongodbConfig>({
  ...harness,
  async config() {
    standIn ??= await seededStandIn();
    return standInConfig(standIn);
  },
  // The stand-in's slow collection waits for maxTimeMS or the client to go away, as mongod would for a long aggregate.
  sleepSql: () => JSON.stringify({ collection: "dsb_suite_slow", pipeline: [] }),
  runningQueries: async () => standIn?.running() ?? 0,
  cleanup: async () => { await standIn?.close(); standIn = null; },
});

/** Live MongoDB when MONGODB_URL is set (a user that may write to MONGODB_DATABASE, default dsb_suite, for the setup). */
driverSuite<MongodbConfig>({
  ...harness,
  async config() {
    const url = process.env.MONGODB_URL;
    if (!url) return { skip: "set MONGODB_URL (mongodb:// or mongodb+srv://; MONGODB_DATABASE defaults to dsb_suite)" };
    const database = process.env.MONGODB_DATABASE ?? DB;
    const admin = new MongoClient(url);
    try {
      const db = admin.db(database);
      await db.collection(TABLE).drop().catch(() => undefined);
      await db.collection("dsb_suite_view").drop().catch(() => undefined);
      await db.collection(TABLE).insertMany(suiteDocs());
      await db.createCollection("dsb_suite_view", { viewOn: TABLE, pipeline: VIEW_PIPELINE });
    } finally {
      await admin.close();
    }
    return MongodbConfigSchema.parse({ type: "mongodb", connection_string: url, database });
  },
  sleepSql: () => null,
  badCredentials: (config) => {
    const secret = `wrong-${Math.random().toString(36).slice(2, 10)}-pw`;
    return { config: { ...config, username: config.username ?? "dsb_nobody", password: secret }, secret };
  },
});

describe("mongodb driver against the stand-in", () => {
  let s: MongoStandIn;
  let conn: Connection;
  const oid = new ObjectId("65a1b2c3d4e5f60718293a4b");
  beforeAll(async () => {
    s = await seededStandIn();
    s.setCollection(DB, "typed", [
      { _id: oid, at: new Date("2024-03-04T05:06:07.089Z"), price: Decimal128.fromString("12.345"), blob: new Binary(Buffer.from("hello")),
        addr: { city: "Oslo", geo: { lat: 59.9 } }, tags: ["a", "b"], n: 7, ratio: 0.5, huge: Long.fromString("-9007199254740993"), small: Long.fromNumber(42) },
      { _id: new ObjectId(), late: "only here", n: 8 },
    ]);
    s.setCollection(DB, "orders", [
      { _id: 1, region: "EU", amount: 10, status: "paid", customer: { name: "Ann" } },
      { _id: 2, region: "EU", amount: 5, status: null, customer: { name: "Bob" } },
      { _id: 3, region: "US", amount: 7, customer: { name: "ann-marie" } },
      { _id: 4, region: "US", amount: 1, status: "open", customer: { name: "Cy" } },
      { _id: 5, region: "APAC", amount: 2, status: "paid", customer: { name: "Di" } },
    ]);
    conn = await connectChecked(mongodbDriver, standInConfig(s), { allowPrivateHosts: true });
  });
  afterAll(async () => {
    await conn?.close();
    await s?.close();
  });

  const q = (collection: string, pipeline: Document[], o = {}) => drain(conn, JSON.stringify({ collection, pipeline }), [], o);

  it("maps values as API.md says: ObjectId hex, ISO dates, Decimal128 and big longs as strings, binary base64, sub-documents as objects", async () => {
    const r = await q("typed", [{ $match: { _id: { $oid: oid.toHexString() } } }]);
    expect(r.columns).toEqual([
      { name: "_id", type: "objectId" }, { name: "at", type: "date" }, { name: "price", type: "decimal" }, { name: "blob", type: "binData" },
      { name: "addr", type: "object" }, { name: "tags", type: "array" }, { name: "n", type: "int" }, { name: "ratio", type: "double" },
      { name: "huge", type: "long" }, { name: "small", type: "long" },
    ]);
    expect(r.rows).toEqual([[
      "65a1b2c3d4e5f60718293a4b", "2024-03-04T05:06:07.089Z", "12.345", Buffer.from("hello").toString("base64"),
      { city: "Oslo", geo: { lat: 59.9 } }, ["a", "b"], 7, 0.5, "-9007199254740993", 42,
    ]]);
  });

  it("columns are the first batch's top-level keys in first-seen order; absent fields are null", async () => {
    const r = await q("typed", [{ $sort: { n: 1 } }, { $project: { n: 1, late: 1 } }]);
    expect(r.columns.map((c) => c.name).sort()).toEqual(["_id", "late", "n"]);
    const late = r.columns.findIndex((c) => c.name === "late");
    expect(r.rows.map((row) => row[late])).toEqual([null, "only here"]);
  });

  it("runs translated query_configs with the SQL operators' semantics", async () => {
    const schema: SourceSchema = { tables: [{ schema: DB, name: "orders", kind: "collection", rowCount: 5, columns: (await conn.introspect()).find((t) => t.name === "orders")!.columns }], schemas: [DB], total_rows: 5, last_updated: "x" };
    const run = async (qc: Parameters<typeof compileQueryConfig>[1]) => (await drain(conn, compileQueryConfig("mongodb", { table: "orders", ...qc }, schema).sql)).rows;
    expect(await run({ select: ["_id"], filters: [{ column: "status", op: "!=", value: "paid" }], order_by: [{ column: "_id" }] })).toEqual([[4]]);
    expect(await run({ select: ["_id"], filters: [{ column: "status", op: "is_null" }], order_by: [{ column: "_id" }] })).toEqual([[2], [3]]);
    expect(await run({ select: ["_id"], filters: [{ column: "status", op: "is_null", value: false }], order_by: [{ column: "_id" }] })).toEqual([[1], [4], [5]]);
    expect(await run({ select: ["_id"], filters: [{ column: "region", op: "in", value: ["US", "APAC", null] }], order_by: [{ column: "_id", desc: true }], limit: 2, offset: 1 })).toEqual([[4], [3]]);
    expect(await run({ select: ["customer.name"], filters: [{ column: "customer.name", op: "contains", value: "ANN" }], order_by: [{ column: "_id" }] })).toEqual([["Ann"], ["ann-marie"]]);
    expect(await run({ filters: [{ column: "amount", op: ">=", value: 5 }, { column: "amount", op: "<", value: 10 }], select: ["_id", "amount"], order_by: [{ column: "amount" }] })).toEqual([[2, 5], [3, 7]]);
    const grouped = await drain(conn, compileQueryConfig("mongodb", {
      table: "orders", group_by: ["region"], aggregates: [{ fn: "sum", column: "amount", as: "total" }, { fn: "count", column: "status", as: "with_status" }, { fn: "count" }],
      order_by: [{ column: "total", desc: true }],
    }, schema).sql);
    expect(grouped.columns.map((c) => c.name)).toEqual(["region", "total", "with_status", "count"]);
    expect(grouped.rows).toEqual([["EU", 15, 1, 2], ["US", 8, 1, 2], ["APAC", 2, 1, 1]]);
  });

  it("introspects collections with dotted nested fields, commonest types, counts, and views", async () => {
    const tables = await conn.introspect();
    const orders = tables.find((t) => t.name === "orders")!;
    expect(orders).toMatchObject({ schema: DB, kind: "collection", rowCount: 5 });
    // Sampled in random order: columns are compared by name.
    expect([...orders.columns].sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      { name: "_id", type: "int", nullable: false, primary_key: true }, { name: "amount", type: "int", nullable: false, primary_key: false },
      { name: "customer.name", type: "string", nullable: false, primary_key: false }, { name: "region", type: "string", nullable: false, primary_key: false },
      { name: "status", type: "string", nullable: true, primary_key: false },
    ]);
    const typed = tables.find((t) => t.name === "typed")!;
    // First-seen order over a random sample: _id first, the rest as the sample happens to meet them.
    expect(typed.columns[0]!.name).toBe("_id");
    expect(typed.columns.map((c) => c.name).sort()).toEqual(["_id", "addr.city", "addr.geo.lat", "at", "blob", "huge", "late", "n", "price", "ratio", "small", "tags"]);
    expect(typed.columns.find((c) => c.name === "late")).toMatchObject({ type: "string", nullable: true });
    expect(tables.find((t) => t.name === "dsb_suite_view")).toMatchObject({ kind: "view", rowCount: null });
  });

  it("a view that cannot be sampled is listed with a comment instead of failing the schema", async () => {
    s.setView(DB, "broken_view", "orders", [{ $noSuchStage: 1 }]);
    try {
      const tables = await conn.introspect();
      expect(tables.find((t) => t.name === "broken_view")).toMatchObject({ kind: "view", columns: [], comment: expect.stringMatching(/Could not sample this view/) });
      expect(tables.find((t) => t.name === "orders")!.columns.length).toBeGreaterThan(0);
    } finally {
      s.setView(DB, "broken_view", "orders", []);
    }
  });

  it("streams in batches with getMore and kills the server cursor when the reader stops early", async () => {
    const before = s.commands.length;
    const stream = await conn.query(JSON.stringify({ collection: "orders", pipeline: [{ $sort: { _id: 1 } }] }), [], {
      readOnly: true, timeoutMs: 30_000, signal: new AbortController().signal, batchRows: 2,
    });
    expect((await stream.batches.next()).value).toHaveLength(2);
    expect((await stream.batches.next()).value).toHaveLength(2);
    expect(s.openCursors()).toBe(1);
    await stream.batches.return?.();
    expect(s.openCursors()).toBe(0);
    expect(s.commands.slice(before).map((c) => c.name)).toEqual(["aggregate", "getMore", "killCursors"]);
  });

  it("return() before the first next() still kills the server cursor", async () => {
    const stream = await conn.query(JSON.stringify({ collection: "orders", pipeline: [] }), [], {
      readOnly: true, timeoutMs: 30_000, signal: new AbortController().signal, batchRows: 2,
    });
    expect(s.openCursors()).toBe(1);
    await stream.batches.return?.();
    expect(s.openCursors()).toBe(0);
  });

  it("sends maxTimeMS: a slow aggregate fails with kind timeout", async () => {
    const err = await q("dsb_suite_slow", [], { timeoutMs: 200 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DriverError);
    expect((err as DriverError).kind).toBe("timeout");
  });

  it("refuses stages that write or run code before sending anything, and SQL text", async () => {
    const before = s.commands.length;
    for (const pipeline of [[{ $merge: { into: "x" } }], [{ $lookup: { from: "b", as: "j", pipeline: [{ $match: { $where: "1" } }] } }]]) {
      const err = await q("orders", pipeline).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DriverError);
      expect((err as DriverError).message).toMatch(/not allowed/);
    }
    const sql = await drain(conn, "select * from orders").catch((e: unknown) => e);
    expect((sql as DriverError).message).toMatch(/collection.*pipeline/);
    expect(s.commands.length).toBe(before);
  });

  it("a query's server errors come back as kind query", async () => {
    const err = await q("orders", [{ $group: {} }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DriverError);
    expect((err as DriverError).kind).toBe("query");
  });

  it("only ever sends read commands", () => {
    const reads = new Set(["hello", "isMaster", "ismaster", "saslStart", "saslContinue", "ping", "buildInfo", "listCollections", "count", "aggregate", "getMore", "killCursors", "endSessions"]);
    expect(s.commands.length).toBeGreaterThan(10);
    expect(s.commands.map((c) => c.name).filter((n) => !reads.has(n))).toEqual([]);
  });
});
