import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestSystem, type RunningSystem } from "../support/system.ts";
import { createPgSource } from "../support/peers.ts";

/** Column names are data: names of Object.prototype members must behave like any other. */
const NAMES = ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf"];

let sys: RunningSystem;
let src: Awaited<ReturnType<typeof createPgSource>>;
beforeAll(async () => {
  sys = await startTestSystem();
  src = await createPgSource([
    `create table t (${NAMES.map((n) => `"${n}" ${n === "toString" ? "int" : "text"}`).join(", ")})`,
    `insert into t values ('a', 'x', 1, 'h', 'v'), ('a', 'y', 2, null, 'v'), ('b', 'z', 3, 'h', 'v')`,
  ]);
});
afterAll(async () => {
  await sys?.stop();
  await src?.drop();
});

/** Counts and sums as numbers: PostgreSQL's bigint results come as strings today. */
const numbers = (row: unknown[]) => row.map((v) => (typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v));
const query = async (id: string, body: unknown, format?: "csv" | "ndjson") => {
  const res = await sys.api(`/api/data/sources/${id}/query${format ? `?format=${format}` : ""}`, { method: "POST", json: body });
  return { status: res.status, text: await res.text() };
};

/** The same checks for a file source and a PostgreSQL source holding the same rows. */
function suite(kind: string, source: () => Promise<string>, table?: string) {
  describe(`columns named ${NAMES.join(", ")} (${kind})`, () => {
    let id: string;
    beforeAll(async () => { id = await source(); });
    const q = (extra: Record<string, unknown>) => ({ query_config: { ...(table ? { table } : {}), ...extra } });

    it("answers JSON, CSV and NDJSON with every column and value", async () => {
      const json = await query(id, q({ order_by: [{ column: "toString" }] }));
      expect(json.status, json.text).toBe(200);
      const body = JSON.parse(json.text);
      expect(body.columns.map((c: { name: string }) => c.name)).toEqual(NAMES);
      expect(body.rows).toEqual([["a", "x", 1, "h", "v"], ["a", "y", 2, null, "v"], ["b", "z", 3, "h", "v"]]);

      const csv = await query(id, q({ order_by: [{ column: "toString" }] }), "csv");
      expect(csv.status).toBe(200);
      expect(csv.text).toBe(`${NAMES.join(",")}\r\na,x,1,h,v\r\na,y,2,,v\r\nb,z,3,h,v\r\n`);

      const nd = await query(id, q({ order_by: [{ column: "toString" }] }), "ndjson");
      expect(nd.status).toBe(200);
      const lines = nd.text.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.map((l) => Object.keys(l))).toEqual([NAMES, NAMES, NAMES]);
      expect(lines[0]!["__proto__"]).toBe("a");
      expect(lines[1]!.hasOwnProperty).toBeNull();
    });

    it("filters, groups by __proto__ and names an aggregate __proto__", async () => {
      const filtered = JSON.parse((await query(id, q({ select: ["__proto__", "constructor"], filters: [{ column: "__proto__", op: "=", value: "a" }, { column: "hasOwnProperty", op: "is_null", value: false }] }))).text);
      expect(filtered.rows).toEqual([["a", "x"]]);

      const grouped = await query(id, q({ group_by: ["__proto__"], aggregates: [{ fn: "count", as: "constructor" }, { fn: "sum", column: "toString", as: "valueOf" }], order_by: [{ column: "__proto__" }] }));
      expect(grouped.status, grouped.text).toBe(200);
      const g = JSON.parse(grouped.text);
      expect(g.columns.map((c: { name: string }) => c.name)).toEqual(["__proto__", "constructor", "valueOf"]);
      expect(g.rows.map(numbers)).toEqual([["a", 2, 3], ["b", 1, 3]]);

      const aliased = await query(id, q({ aggregates: [{ fn: "max", column: "toString", as: "__proto__" }, { fn: "count", column: "hasOwnProperty", as: "toString" }] }));
      expect(aliased.status, aliased.text).toBe(200);
      const a = JSON.parse(aliased.text);
      expect(a.columns.map((c: { name: string }) => c.name)).toEqual(["__proto__", "toString"]);
      expect(a.rows.map(numbers)).toEqual([[3, 2]]);

      const nd = await query(id, q({ group_by: ["__proto__"], aggregates: [{ fn: "count", as: "toString" }], order_by: [{ column: "__proto__", desc: true }] }), "ndjson");
      const lines = nd.text.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.map((l) => Object.keys(l))).toEqual([["__proto__", "toString"], ["__proto__", "toString"]]);
      expect(lines.map((l) => [l["__proto__"], Number(l.toString)])).toEqual([["b", 1], ["a", 2]]);
    });
  });
}

suite("file", async () => {
  const form = new FormData();
  form.set("file", new Blob([`${NAMES.join(",")}\na,x,1,h,v\na,y,2,,v\nb,z,3,h,v\n`]), "proto.csv");
  const res = await sys.api("/api/data/upload", { method: "POST", body: form });
  const body = await res.json();
  expect(res.status, JSON.stringify(body)).toBe(201);
  expect(body.data_source.schema.tables[0].columns.map((c: { name: string }) => c.name)).toEqual(NAMES);
  return body.data_source.id;
});

suite("postgresql", async () => {
  const res = await sys.api("/api/data/database/connect", {
    method: "POST", json: { type: "postgres", host: "127.0.0.1", port: 5432, database: src.database, username: "postgres", password: "x", name: "proto" },
  });
  const body = await res.json();
  expect(res.status, JSON.stringify(body)).toBe(201);
  expect(body.data_source.schema.tables.find((t: { name: string }) => t.name === "t").columns.map((c: { name: string }) => c.name)).toEqual(NAMES);
  return body.data_source.id;
}, "public.t");

describe("JSON uploads with keys named like Object.prototype members", () => {
  it("keeps them as columns", async () => {
    const form = new FormData();
    form.set("file", new Blob(['[{"__proto__": {"x": 1}, "constructor": "c", "id": 1}, {"__proto__": {"x": 2}, "constructor": "d", "id": 2}]']), "proto.json");
    const res = await sys.api("/api/data/upload", { method: "POST", body: form });
    const body = await res.json();
    expect(res.status, JSON.stringify(body)).toBe(201);
    expect(body.data_source.schema.tables[0].columns.map((c: { name: string }) => c.name)).toEqual(["__proto__.x", "constructor", "id"]);
    const r = await query(body.data_source.id, { query_config: { order_by: [{ column: "id" }] } });
    expect(JSON.parse(r.text).rows).toEqual([[1, "c", 1], [2, "d", 2]]);
  });
});
