import { describe, expect, it } from "vitest";
import { buildSchema, diffSchemas, type SchemaTable } from "@dsb/contracts";
import { diffable } from "./schema.ts";
import { DigestCache, diffDigest, digestOf } from "./schema-digest.ts";

const table = (name: string, cols: [string, string][], schema: string | undefined = "public"): SchemaTable => ({
  ...(schema ? { schema } : {}), name, kind: "table", rowCount: null, columns: cols.map(([n, type]) => ({ name: n, type, nullable: true })),
});

const cases: [string, SchemaTable[], SchemaTable[]][] = [
  ["nothing before", [], [table("a", [["id", "int"]])]],
  ["unchanged", [table("a", [["id", "int"], ["x", "text"]])], [table("a", [["id", "int"], ["x", "text"]])]],
  ["every kind of change", [table("a", [["id", "int"], ["x", "text"], ["gone", "date"]]), table("old", [["y", "int"]]), table("b", [["k", "int"]], undefined)],
    [table("new", [["z", "int"]]), table("a", [["id", "bigint"], ["added", "text"], ["x", "text"]]), table("b", [["k", "int"]], undefined)]],
  ["reordered columns only", [table("a", [["id", "int"], ["x", "text"]])], [table("a", [["x", "text"], ["id", "int"]])]],
  ["duplicate keys and columns (last wins)", [table("a", [["id", "int"], ["id", "text"]]), table("a", [["q", "int"]])],
    [table("a", [["q", "bigint"], ["q", "int"]]), table("a", [["id", "int"]]), table("c", [])]],
  ["names with separators and quotes", [table('we"ird', [["a\u0000b", "t\u0001"], ['"', "x"]])], [table('we"ird', [["a\u0000b", "t\u0002"]])]],
];

describe("diffDigest", () => {
  it.each(cases)("gives diffSchemas' changes in its order: %s", (_, before, after) => {
    const b = buildSchema(before);
    const a = buildSchema(after);
    const { changes, digest } = diffDigest(digestOf(b), a);
    expect(changes).toEqual(diffSchemas(b, a));
    expect(digest).toEqual(digestOf(a));
    expect(diffDigest(digestOf(null), a).changes).toEqual(diffSchemas(null, a));
  });

  it("reads a stored schema of another shape as nothing before", () => {
    expect(diffable({ tables: [{ name: "t", columns: [{ name: "a" }] }] })).toBeNull();
    expect(diffable({ tables: "nope" })).toBeNull();
    expect(diffable(null)).toBeNull();
    const ok = buildSchema([table("a", [["id", "int"]])]);
    expect(diffable(ok as unknown as Record<string, unknown>)).toBe(ok);
  });
});

describe("DigestCache", () => {
  it("answers only for the tables hash it stored and forgets the least recently used", () => {
    const c = new DigestCache(2);
    const d = digestOf(buildSchema([table("a", [["id", "int"]])]));
    c.set("s1", "h1", d);
    expect(c.get("s1", "h2")).toBeUndefined();
    expect(c.get("s1", "h1")).toBeUndefined(); // a stale read drops the entry
    c.set("s1", "h1", d);
    expect(c.get("s1", null)).toBeUndefined(); // the row's hash was cleared: the schema was written elsewhere
    c.set("s1", "h1", d);
    c.set("s2", "h5", d);
    expect(c.get("s1", "h1")).toBe(d);
    c.set("s3", "h1", d);
    expect(c.get("s2", "h5")).toBeUndefined();
    expect(c.get("s1", "h1")).toBe(d);
  });
});
