import type { SchemaColumn } from "@dsb/contracts";
import { bsonTypeName, commonestType, type BsonTypeName } from "./values.ts";

/** Documents sampled per collection for its columns. */
export const SAMPLE_SIZE = 1000;

/** A sortable text form of a document's _id (ObjectId hex, number, string…). */
const idKey = (d: Record<string, unknown>): string => {
  const v = d._id as { toHexString?: () => string; valueOf?: () => unknown } | null | undefined;
  if (v && typeof v === "object") return v.toHexString ? v.toHexString() : String(v.valueOf?.() ?? "");
  return String(v ?? "");
};

interface FieldStats { types: Map<BsonTypeName, number>; present: number; nulls: number }

const isSubDocument = (v: unknown): v is Record<string, unknown> =>
  !!v && typeof v === "object" && !Array.isArray(v) && !(v instanceof Date) && !(v instanceof Uint8Array) && !(v instanceof RegExp) &&
  !(v as { _bsontype?: string })._bsontype;

/**
 * Columns of a collection from sampled documents: nested fields as dotted names (`address.city`;
 * arrays stay one column of type `array`), in first-seen order with `_id` first, each typed by
 * its commonest BSON type. `nullable` unless every sampled document has the field with a value;
 * `_id` is the primary key.
 */
export function columnsFromSample(docs: readonly Record<string, unknown>[]): SchemaColumn[] {
  const fields = new Map<string, FieldStats>();
  const visit = (doc: Record<string, unknown>, prefix: string, depth: number) => {
    for (const [k, v] of Object.entries(doc)) {
      const name = prefix + k;
      if (isSubDocument(v) && depth < 20 && Object.keys(v).length > 0) {
        visit(v, `${name}.`, depth + 1);
        continue;
      }
      let s = fields.get(name);
      if (!s) fields.set(name, (s = { types: new Map(), present: 0, nulls: 0 }));
      const t = bsonTypeName(v);
      s.present++;
      if (t === "null" || t === "undefined") s.nulls++;
      s.types.set(t, (s.types.get(t) ?? 0) + 1);
    }
  };
  // Visited in _id order, so the same documents give the same column order on every refresh
  // (a collection of up to SAMPLE_SIZE documents is sampled whole).
  const inIdOrder = [...docs].sort((a, b) => idKey(a).localeCompare(idKey(b)));
  for (const d of inIdOrder) visit(d, "", 0);
  const names = [...fields.keys()];
  const ordered = names.includes("_id") ? ["_id", ...names.filter((n) => n !== "_id")] : names;
  return ordered.map((name) => {
    const s = fields.get(name)!;
    return { name, type: commonestType(s.types), nullable: s.present < docs.length || s.nulls > 0, primary_key: name === "_id" };
  });
}
