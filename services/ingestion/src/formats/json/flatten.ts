import { kindOf, toTyped, widen } from "../infer.ts";
import type { ColumnType, ParsedColumn } from "../../dataset/table.ts";

/** Nested objects become dotted columns down to this depth; deeper objects stay JSON. */
export const MAX_FLATTEN_DEPTH = 3;
/** A file with more distinct columns than this is refused (almost always a map keyed by ids). */
export const MAX_COLUMNS = 2000;

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Calls `emit(name, value)` for each leaf of a record, flattening nested objects to dotted names. */
export function flatten(obj: Record<string, unknown>, emit: (name: string, value: unknown) => void, prefix = "", depth = 1): void {
  for (const [k, v] of Object.entries(obj)) {
    const name = prefix ? `${prefix}.${k}` : k;
    if (isPlainObject(v) && depth < MAX_FLATTEN_DEPTH && Object.keys(v).length > 0) flatten(v, emit, name, depth + 1);
    else emit(name, v);
  }
}

/** Collects columns and their widened types across records, in first-seen order. */
export class ColumnCollector {
  private readonly index = new Map<string, number>();
  private readonly types: (ColumnType | null)[] = [];
  private readonly seen: number[] = [];
  private readonly nulls: boolean[] = [];
  rows = 0;

  add(record: Record<string, unknown>, where: () => string): void {
    this.rows++;
    flatten(record, (name, value) => {
      let i = this.index.get(name);
      if (i === undefined) {
        if (this.index.size >= MAX_COLUMNS) throw new Error(`more than ${MAX_COLUMNS} distinct columns (${where()}); nest repeating keys in arrays instead`);
        i = this.types.length;
        this.index.set(name, i);
        this.types.push(null);
        this.seen.push(0);
        this.nulls.push(this.rows > 1);
      }
      this.seen[i]!++;
      const k = kindOf(value);
      if (k === null) this.nulls[i] = true;
      else this.types[i] = widen(this.types[i]!, k);
    });
  }

  columns(): ParsedColumn[] {
    const names = [...this.index.keys()];
    const parents = new Set(names.flatMap((n) => { const p = n.split("."); return p.slice(1).map((_, k) => p.slice(0, k + 1).join(".")); }));
    return names
      .map((name, i) => ({ name, type: this.types[i] ?? "string", nullable: this.nulls[i]! || this.seen[i]! < this.rows }))
      // A key that is null in some records and an object in others lives on as its dotted children.
      .filter((c, i) => !(this.types[i] === null && parents.has(c.name)));
  }
}

/** One record as a row in the columns' order and types. */
export function toRow(record: Record<string, unknown>, columns: readonly ParsedColumn[], index: Map<string, number>): unknown[] {
  const row = new Array<unknown>(columns.length).fill(null);
  flatten(record, (name, value) => {
    const i = index.get(name);
    if (i !== undefined) row[i] = toTyped(value, columns[i]!.type);
  });
  return row;
}
