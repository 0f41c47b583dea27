import { Binary, Decimal128, Long, ObjectId } from "bson";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { skipped } from "@dsb/runtime/testing";
import { SourceSchemaSchema } from "@dsb/contracts";
import { startMongoStandIn, type MongoStandIn } from "../support/stand-ins/mongodb.ts";
import { startTestSystem, type RunningSystem } from "../support/system.ts";

const PASSWORD = "mongo-S3cret-never-shown";
const USER = "reporter";
const DB = "shop";
const MODES = ["embedded", "distributed"] as const;
const canDistribute = !!process.env.TEST_NATS_URL;
if (!canDistribute) skipped("mongodb e2e (distributed)", "set TEST_NATS_URL (and TEST_DATABASE_URL) for the distributed mode");

const oid = new ObjectId("65a1b2c3d4e5f60718293a4b");
const seed = (s: MongoStandIn) => {
  s.setCollection(DB, "orders", [
    { _id: oid, region: "EU", amount: Decimal128.fromString("12.50"), placed: new Date("2024-03-01T10:00:00Z"), receipt: new Binary(Buffer.from("pdf")), customer: { name: "Ada", city: "Oslo" }, big: Long.fromString("9007199254740993") },
    { _id: new ObjectId(), region: "EU", amount: Decimal128.fromString("7.25"), placed: new Date("2024-03-02T11:00:00Z"), customer: { name: "Bob", city: "Bergen" }, big: Long.fromNumber(1) },
    { _id: new ObjectId(), region: "US", amount: Decimal128.fromString("100"), placed: null, customer: { name: "Cleo", city: "Austin" }, big: Long.fromNumber(2) },
  ]);
  s.setCollection(DB, "events", Array.from({ length: 4500 }, (_, i) => ({ _id: i + 1, kind: i % 3 === 0 ? "view" : "click", n: i })));
  s.setView(DB, "eu_orders", "orders", [{ $match: { region: "EU" } }]);
};

for (const mode of MODES) {
  describe.runIf(mode === "embedded" || canDistribute)(`MongoDB source through the gateway (${mode})`, () => {
    let sys: RunningSystem;
    let mongo: MongoStandIn;
    let sourceId: string;
    const bodies: string[] = [];
    const json = async (res: Response) => {
      const text = await res.text();
      bodies.push(text);
      return JSON.parse(text);
    };
    const config = () => ({ type: "mongodb", host: mongo.host, port: mongo.port, database: DB, username: USER, password: PASSWORD });
    const query = async (body: unknown, headers: Record<string, string> = {}) => {
      const res = await sys.api(`/api/data/sources/${sourceId}/query`, { method: "POST", json: body, headers });
      return { status: res.status, body: await json(res) };
    };
    const history = async () => (await json(await sys.api(`/api/data/sources/${sourceId}/queries?limit=100`))).queries as { query: string | null; query_config: unknown; status: string; error: string | null; result_count: number | null }[];

    beforeAll(async () => {
      mongo = await startMongoStandIn({ user: { name: USER, password: PASSWORD }, slowCollections: ["slow"] });
      seed(mongo);
      sys = await startTestSystem({ mode });
    });
    afterAll(async () => {
      await sys?.stop();
      await mongo?.close();
      for (const b of bodies) expect(b).not.toContain(PASSWORD);
    });

    it("lists mongodb among the supported databases with its fields", async () => {
      const body = await json(await sys.api("/api/data/databases"));
      const m = body.databases.find((d: { type: string }) => d.type === "mongodb");
      expect(m).toMatchObject({ label: "MongoDB", default_port: 27017 });
      expect(m.fields.map((f: { name: string }) => f.name)).toEqual(["host", "port", "database", "username", "password", "auth_source", "tls", "connection_string"]);
      expect(m.fields.find((f: { name: string }) => f.name === "password").secret).toBe(true);
      expect(m.fields.find((f: { name: string }) => f.name === "connection_string").secret).toBe(true);
    });

    it("tests a connection (SCRAM-SHA-256 login) and reports the server version; a wrong password fails without echoing it", async () => {
      expect(await json(await sys.api("/api/data/database/test", { method: "POST", json: config() }))).toMatchObject({ success: true, server_version: "MongoDB 7.0.14" });
      const bad = await json(await sys.api("/api/data/database/test", { method: "POST", json: { ...config(), password: "Wrong-Pass-123" } }));
      expect(bad).toMatchObject({ success: false, code: "CONNECTION_FAILED", error: expect.stringMatching(/Authentication failed/) });
      expect(bad.error).not.toContain("Wrong-Pass-123");
      const url = await json(await sys.api("/api/data/database/test", { method: "POST", json: { type: "mongodb", connection_string: `mongodb://${USER}:${encodeURIComponent(PASSWORD)}@${mongo.host}:${mongo.port}/${DB}?authSource=admin` } }));
      expect(url).toMatchObject({ success: true });
    });

    it("refuses a cloud metadata address with 403 before dialling, on test and connect, discrete or in a connection string", async () => {
      const before = mongo.commands.length;
      for (const path of ["/api/data/database/test", "/api/data/database/connect"]) {
        for (const body of [{ ...config(), host: "169.254.169.254", name: "meta" }, { type: "mongodb", connection_string: `mongodb://${mongo.host}:${mongo.port},169.254.169.254/${DB}`, name: "meta" }]) {
          const res = await sys.api(path, { method: "POST", json: body });
          expect(res.status).toBe(403);
          expect(await json(res)).toMatchObject({ success: false, code: "ADDRESS_NOT_ALLOWED" });
        }
      }
      expect(mongo.commands.length).toBe(before);
    });

    it("connects: stores the source redacted with one table per collection (kind collection, dotted nested fields, counts)", async () => {
      const res = await sys.api("/api/data/database/connect", { method: "POST", json: { ...config(), name: "Shop" } });
      const body = await json(res);
      expect(res.status).toBe(201);
      const ds = body.data_source;
      sourceId = ds.id;
      expect(ds).toMatchObject({ type: "database", db_type: "mongodb", name: "Shop" });
      expect(ds.connection_config.password).toBe("********");
      expect(SourceSchemaSchema.safeParse(ds.schema).success).toBe(true);
      const orders = ds.schema.tables.find((t: { name: string }) => t.name === "orders");
      expect(orders).toMatchObject({ schema: DB, kind: "collection", rowCount: 3 });
      expect(orders.columns.map((c: { name: string }) => c.name).sort()).toEqual(["_id", "amount", "big", "customer.city", "customer.name", "placed", "receipt", "region"]);
      expect(orders.columns.find((c: { name: string }) => c.name === "amount")).toMatchObject({ type: "decimal" });
      expect(orders.columns.find((c: { name: string }) => c.name === "_id")).toMatchObject({ type: "objectId", primary_key: true, nullable: false });
      expect(ds.schema.tables.find((t: { name: string }) => t.name === "eu_orders")).toMatchObject({ kind: "view" });
      expect(ds.schema.tables.find((t: { name: string }) => t.name === "events")).toMatchObject({ rowCount: 4500 });
      expect(ds.schema.total_rows).toBe(4503);
      const refreshed = await json(await sys.api(`/api/data/sources/${sourceId}/schema?refresh=true`));
      expect(refreshed.schema.tables.map((t: { name: string }) => t.name)).toEqual(["eu_orders", "events", "orders"]);
    });

    it("runs a native pipeline with values as API.md says and records it in the history", async () => {
      const r = await query({ collection: "orders", pipeline: [{ $match: { _id: { $oid: oid.toHexString() } } }, { $project: { region: 1, amount: 1, placed: 1, receipt: 1, customer: 1, big: 1 } }], natural_language_query: "Ada's order" });
      expect(r.status).toBe(200);
      const row = Object.fromEntries(r.body.columns.map((c: { name: string }, i: number) => [c.name, r.body.rows[0][i]]));
      expect(row).toEqual({
        _id: "65a1b2c3d4e5f60718293a4b", region: "EU", amount: "12.50", placed: "2024-03-01T10:00:00.000Z",
        receipt: Buffer.from("pdf").toString("base64"), customer: { name: "Ada", city: "Oslo" }, big: "9007199254740993",
      });
      expect(r.body.columns.find((c: { name: string }) => c.name === "placed").type).toBe("date");
      const h = (await history())[0]!;
      expect(h).toMatchObject({ status: "success", result_count: 1 });
      expect(JSON.parse(h.query!)).toMatchObject({ collection: "orders", pipeline: [{ $match: { _id: { $oid: oid.toHexString() } } }, expect.anything()] });
    });

    it("runs a query_config translated to a pipeline: filters, dotted columns, grouping, order, limit", async () => {
      // (mingo, behind the stand-in, cannot compare Decimal128 values; MongoDB can: the pure translation tests cover their typing.)
      const flat = await query({ query_config: { table: "orders", select: ["customer.name", "amount"], filters: [{ column: "region", op: "=", value: "EU" }], order_by: [{ column: "placed", desc: true }] } });
      expect(flat.status).toBe(200);
      expect(flat.body.columns.map((c: { name: string }) => c.name)).toEqual(["customer.name", "amount"]);
      expect(flat.body.rows).toEqual([["Bob", "7.25"], ["Ada", "12.50"]]);
      const grouped = await query({ query_config: { table: "shop.events", group_by: ["kind"], aggregates: [{ fn: "count", as: "n" }, { fn: "max", column: "n", as: "last" }], order_by: [{ column: "kind" }] } });
      expect(grouped.body.rows).toEqual([["click", 3000, 4499], ["view", 1500, 4497]]);
      const since = await query({ query_config: { table: "orders", select: ["region"], filters: [{ column: "placed", op: ">=", value: "2024-03-02T00:00:00Z" }] } });
      expect(since.body.rows).toEqual([["EU"]]);
      expect((await history())[0]!.query_config).toMatchObject({ table: "orders" });
    });

    it("caps JSON results at limit with truncated:true", async () => {
      const r = await query({ collection: "events", pipeline: [{ $sort: { _id: 1 } }], limit: 10 });
      expect(r.body).toMatchObject({ row_count: 10, truncated: true });
      expect(r.body.rows.map((x: unknown[]) => x[0])).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    });

    it("refuses stages that write or run code with 400 (nested too), SQL with 400, and records none of them", async () => {
      const before = (await history()).length;
      for (const body of [
        { collection: "orders", pipeline: [{ $out: "copy" }] },
        { collection: "orders", pipeline: [{ $lookup: { from: "events", as: "e", pipeline: [{ $merge: { into: "x" } }] } }] },
        { collection: "orders", pipeline: [{ $facet: { a: [{ $match: { $where: "sleep(100)" } }] } }] },
        { collection: "orders", pipeline: [{ $set: { x: { $function: { body: "function() {}", args: [], lang: "js" } } } }] },
        { sql: "select * from orders" },
      ]) {
        const r = await query(body);
        expect(r.status).toBe(400);
        expect(r.body).toMatchObject({ success: false, code: "VALIDATION" });
      }
      expect((await history()).length).toBe(before);
    });

    it("reports MongoDB's errors as 422 QUERY_FAILED and records them", async () => {
      const r = await query({ collection: "orders", pipeline: [{ $noSuchStage: {} }] });
      expect(r.status).toBe(422);
      expect(r.body.code).toBe("QUERY_FAILED");
      expect((await history())[0]).toMatchObject({ status: "error" });
    });

    it("a query over timeout_ms is stopped by MongoDB (maxTimeMS): 504 TIMEOUT, recorded", async () => {
      const r = await query({ collection: "slow", pipeline: [], timeout_ms: 300 });
      expect(r.status).toBe(504);
      expect(r.body.code).toBe("TIMEOUT");
      await vi.waitFor(() => expect(mongo.running()).toBe(0), { timeout: 10_000 });
      expect((await history())[0]).toMatchObject({ status: "error" });
    });

    it("exports a pipeline as CSV across several cursor batches, in full", async () => {
      const res = await sys.api(`/api/data/sources/${sourceId}/query?format=csv`, { method: "POST", json: { collection: "events", pipeline: [{ $sort: { _id: 1 } }, { $project: { _id: 1, kind: 1 } }] } });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/text\/csv/);
      const lines = (await res.text()).trimEnd().split(/\r?\n/);
      expect(lines[0]).toBe("_id,kind");
      expect(lines.length).toBe(4501);
      expect(lines[1]).toBe("1,view");
      expect(lines[4500]).toBe("4500,click");
      expect(mongo.commands.filter((c) => c.name === "getMore").length).toBeGreaterThan(0);
      expect(mongo.openCursors()).toBe(0);
    });

    it("sent MongoDB nothing but reads", () => {
      const reads = new Set(["hello", "isMaster", "ismaster", "saslStart", "saslContinue", "ping", "buildInfo", "listCollections", "count", "aggregate", "getMore", "killCursors", "endSessions"]);
      expect(mongo.commands.map((c) => c.name).filter((n) => !reads.has(n))).toEqual([]);
    });
  });
}
