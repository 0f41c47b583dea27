import { createHash } from "node:crypto";
import type { SchemaChange, SourceSchema } from "@dsb/contracts";

/**
 * What `diffSchemas` compares of a stored schema, small enough to keep in memory:
 * per table key, its columns' `[name, type]` pairs as JSON. Keeping the digest of
 * the schema a replica last stored spares the next refresh reading (and parsing)
 * megabytes of jsonb back from the database just to diff.
 */
export type SchemaDigest = Map<string, string>;

type Table = SourceSchema["tables"][number];

const tableKey = (t: Table) => (t.schema ? `${t.schema}.${t.name}` : t.name);
const columnsOf = (t: Table) => JSON.stringify(t.columns.map((c) => [c.name, c.type]));

/** Same keys, same order and same last-one-wins for duplicates as `diffSchemas`' maps. */
export function digestOf(s: SourceSchema | null | undefined): SchemaDigest {
  const d: SchemaDigest = new Map();
  for (const t of s?.tables ?? []) d.set(tableKey(t), columnsOf(t));
  return d;
}

const columnMap = (json: string) => new Map((JSON.parse(json) as [string, string][]).map(([name, type]) => [name, type]));

/**
 * `diffSchemas(before, after)` with `before` given as its digest: the same changes in
 * the same order. Tables whose columns are unchanged cost one string comparison.
 */
export function diffDigest(before: SchemaDigest, after: SourceSchema): { changes: SchemaChange[]; digest: SchemaDigest } {
  const changes: SchemaChange[] = [];
  const now = new Map(after.tables.map((t) => [tableKey(t), t]));
  const digest: SchemaDigest = new Map();
  for (const t of after.tables) digest.set(tableKey(t), columnsOf(t));
  for (const [k, t] of now) {
    const prev = before.get(k);
    if (prev === undefined) { changes.push({ kind: "table_added", table: k }); continue; }
    if (prev === digest.get(k)) continue;
    const prevCols = columnMap(prev);
    const cols = new Map(t.columns.map((c) => [c.name, c.type]));
    for (const [name, type] of cols) {
      const p = prevCols.get(name);
      if (p === undefined) changes.push({ kind: "column_added", table: k, column: name, to: type });
      else if (p !== type) changes.push({ kind: "column_retyped", table: k, column: name, from: p, to: type });
    }
    for (const [name, p] of prevCols) if (!cols.has(name)) changes.push({ kind: "column_removed", table: k, column: name, from: p });
  }
  for (const k of before.keys()) if (!now.has(k)) changes.push({ kind: "table_removed", table: k });
  return { changes, digest };
}

/** `tables_sha256` of catalog.schema.touch: base64url SHA-256 of `JSON.stringify(tables)` (the connector computes the same). */
export const tablesSha256 = (tables: SourceSchema["tables"]) => createHash("sha256").update(JSON.stringify(tables)).digest("base64url");

/**
 * The digests of the schemas a catalog replica stored last, by source and the hash of their
 * tables (the row's schema_sha256, which any other write of the schema clears); a few sources,
 * least recently used out.
 */
export class DigestCache {
  private readonly entries = new Map<string, { sha: string; digest: SchemaDigest }>();
  constructor(private readonly max = 16) {}

  get(key: string, sha: string | null): SchemaDigest | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    this.entries.delete(key);
    if (sha === null || e.sha !== sha) return undefined;
    this.entries.set(key, e);
    return e.digest;
  }

  set(key: string, sha: string, digest: SchemaDigest): void {
    this.entries.delete(key);
    this.entries.set(key, { sha, digest });
    while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
  }
}
