/**
 * BSON values as API.md wants them in results: ObjectId as its hex string, dates as ISO-8601,
 * Decimal128 as a string, binary as base64, sub-documents as objects, 64-bit integers as numbers
 * while they fit ±(2^53−1) and as strings beyond. Documents are read with `promoteValues: false`
 * so an int, a long and a double stay distinguishable (their wrapper classes carry `_bsontype`).
 */
import { integerValue } from "@dsb/contracts";

/** MongoDB's own type names (those `$type` takes). */
export type BsonTypeName =
  | "double" | "string" | "object" | "array" | "binData" | "undefined" | "objectId" | "bool" | "date" | "null"
  | "regex" | "dbPointer" | "javascript" | "symbol" | "int" | "timestamp" | "long" | "decimal" | "minKey" | "maxKey";

const BSONTYPE_NAMES: Readonly<Record<string, BsonTypeName>> = {
  Double: "double", Int32: "int", Long: "long", Decimal128: "decimal", ObjectId: "objectId", Binary: "binData",
  Timestamp: "timestamp", BSONRegExp: "regex", Code: "javascript", MinKey: "minKey", MaxKey: "maxKey", DBRef: "object",
  BSONSymbol: "symbol",
};

const bsontype = (v: object): string | undefined => (v as { _bsontype?: string })._bsontype;

/** The BSON type name of one value as the driver deserialised it. */
export function bsonTypeName(v: unknown): BsonTypeName {
  if (v === null) return "null";
  if (v === undefined) return "undefined";
  switch (typeof v) {
    case "string": return "string";
    case "boolean": return "bool";
    // Only when values were promoted (tests, the stand-in): integers look like ints.
    case "number": return Number.isInteger(v) && Math.abs(v) <= 2147483647 ? "int" : "double";
    case "bigint": return "long";
    case "object": break;
    default: return "javascript";
  }
  if (v instanceof Date) return "date";
  if (Array.isArray(v)) return "array";
  if (v instanceof RegExp) return "regex";
  if (v instanceof Uint8Array) return "binData";
  const t = bsontype(v as object);
  if (t) return BSONTYPE_NAMES[t] ?? "object";
  return "object";
}

/** One value mapped to API.md's JSON. */
export function apiValue(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  switch (typeof v) {
    case "string": case "boolean": return v;
    case "number": return Number.isFinite(v) ? v : String(v);
    case "bigint": return integerValue(v);
    case "object": break;
    default: return String(v);
  }
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
  if (Array.isArray(v)) return v.map(apiValue);
  if (v instanceof RegExp) return String(v);
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64");
  const o = v as Record<string, unknown> & { toString(enc?: string): string };
  switch (bsontype(o)) {
    case "Int32": return (o as unknown as { value: number }).value;
    case "Double": return apiValue((o as unknown as { value: number }).value);
    case "Long": return integerValue(o.toString());
    case "Decimal128": return o.toString();
    case "ObjectId": return (o as unknown as { toHexString(): string }).toHexString();
    case "Binary": return o.toString("base64");
    case "Timestamp": {
      const ts = o as unknown as { t: number; i: number };
      return { t: ts.t, i: ts.i };
    }
    case "BSONRegExp": {
      const r = o as unknown as { pattern: string; options: string };
      return `/${r.pattern}/${r.options}`;
    }
    case "Code": return (o as unknown as { code: string }).code;
    case "BSONSymbol": return (o as unknown as { value: string }).value;
    case "MinKey": return "MinKey";
    case "MaxKey": return "MaxKey";
    case "DBRef": {
      const r = o as unknown as { collection: string; oid: unknown; db?: string };
      return { $ref: r.collection, $id: apiValue(r.oid), ...(r.db ? { $db: r.db } : {}) };
    }
    default: break;
  }
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(o)) out[k] = apiValue(x);
  return out;
}

/** Reads a dotted path (`address.city`) of a document; undefined when absent. */
export function getPath(doc: Record<string, unknown>, path: string): unknown {
  if (path in doc) return doc[path];
  let cur: unknown = doc;
  for (const part of path.split(".")) {
    if (cur === null || typeof cur !== "object" || Array.isArray(cur) || bsontype(cur as object)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/** The commonest non-null type of a column's values ("null" when every value is null or absent). */
export function commonestType(counts: ReadonlyMap<BsonTypeName, number>): BsonTypeName {
  let best: BsonTypeName = "null";
  let n = 0;
  for (const [t, c] of counts) if (t !== "null" && t !== "undefined" && c > n) [best, n] = [t, c];
  return best;
}
