import { T_ALL, classify, isNullMarker, pickFormat } from "./infer.ts";

/**
 * Whether the first row names the columns. `masks`/`seen` describe the rows
 * below it. It is a header when no cell fits its typed column and at least one
 * typed column has a text cell on top ("id" over integers); when every column
 * below is text (or there is nothing below), when all cells are unique,
 * non-empty and not numbers, dates or booleans.
 */
export function detectHeader(first: string[], masks: Int32Array, seen: Uint8Array): boolean {
  let typedSupport = false;
  for (let k = 0; k < first.length; k++) {
    const format = seen[k] ? pickFormat(masks[k]!) : 0;
    if (format === 0) continue;
    const cell = first[k]!;
    if (isNullMarker(cell)) continue;
    if ((classify(cell, masks[k]!) & masks[k]!) !== 0) return false;
    typedSupport = true;
  }
  if (typedSupport) return true;
  const unique = new Set<string>();
  for (const cell of first) {
    const name = cell.trim();
    if (isNullMarker(name) || classify(name, T_ALL) !== 0 || unique.has(name)) return false;
    unique.add(name);
  }
  return true;
}

/** Header names made usable: trimmed, blank → column_N (0-based), duplicates → name_1, name_2. */
export function columnNames(first: string[] | null, count: number): string[] {
  if (first === null) return Array.from({ length: count }, (_, k) => `column${k}`);
  const used = new Set<string>();
  return first.map((cell, k) => {
    const base = cell.trim() === "" ? `column_${k}` : cell.trim();
    let name = base;
    for (let n = 1; used.has(name); n++) name = `${base}_${n}`;
    used.add(name);
    return name;
  });
}
