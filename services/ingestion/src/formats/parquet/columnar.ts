import { open } from "node:fs/promises";
import { parquetRead, type AsyncBuffer, type FileMetaData, type ParquetParsers, type SchemaTree } from "hyparquet";
import { BulkColumn, slabKind, slabOfColumn, type Slab } from "../../dataset/bulk.ts";
import { ColumnBuilder, type ArrowValue } from "../../dataset/columns.ts";
import type { ColumnType } from "../types.ts";
import { ChunkDecoder, FAST_CODECS, FAST_ENCODINGS } from "./flat.ts";
import { fastPlan } from "./plan.ts";

export interface ColumnarSource {
  path: string;
  file: AsyncBuffer;
  metadata: FileMetaData;
  fields: SchemaTree[];
  types: ColumnType[];
  /** Slow path: per column, Arrow value of what hyparquet decoded with `parsers` (null: as is). */
  conv: (((v: unknown) => ArrowValue) | null)[];
  parsers: Partial<ParquetParsers>;
  /** Turns any decoding error into the reader's PARSE_FAILED. */
  broken: (e: unknown) => Error;
}

/** Index of each top-level field's first leaf column in a row group's column list. */
function leafIndexes(fields: SchemaTree[]): number[] {
  const leaves = (t: SchemaTree): number => (t.children.length ? t.children.reduce((n, c) => n + leaves(c), 0) : 1);
  let at = 0;
  return fields.map((f) => { const i = at; at += leaves(f); return i; });
}

/**
 * Record batches of at most `batchRows` rows, one row group at a time: flat
 * columns hyparquet would hand over as plain numbers, dates, timestamps,
 * booleans or strings are decoded by flat.ts straight into Arrow buffers
 * (bulk-copied into the batch); everything else (nested, decimals, INT96,
 * other encodings and codecs) goes through hyparquet as before.
 */
export async function* columnarBatches(src: ColumnarSource, batchRows: number): AsyncGenerator<ColumnBuilder[]> {
  const { fields, types, metadata } = src;
  const decoders = fields.map((f, i) => {
    const plan = f.children.length ? null : fastPlan(f.element, types[i]!);
    return plan ? new ChunkDecoder(plan, slabKind(types[i]!)) : null;
  });
  const leaf = leafIndexes(fields);
  const fh = await open(src.path, "r");
  try {
    const size = (await fh.stat()).size;
    // text bytes per row seen so far, per column, to size the next batches' text buffers
    const perRow = types.map(() => 16);
    const fresh = () => types.map((t, i) => new BulkColumn(t, batchRows, Math.ceil(perRow[i]! * batchRows * 1.1)));
    let b = fresh();
    let start = 0;
    for (const group of metadata.row_groups) {
      const rows = Number(group.num_rows);
      if (rows === 0) continue;
      const slabs: (Slab | null)[] = [];
      for (let i = 0; i < fields.length; i++) {
        const dec = decoders[i];
        const chunk = group.columns[leaf[i]!];
        const meta = chunk?.meta_data;
        let slab: Slab | null = null;
        if (dec && meta && !chunk.file_path && meta.path_in_schema.length === 1 && meta.path_in_schema[0] === fields[i]!.element.name
          && FAST_CODECS.has(meta.codec) && meta.encodings.every((e) => FAST_ENCODINGS.has(e))) {
          const from = Number(meta.dictionary_page_offset || meta.data_page_offset);
          const len = Number(meta.total_compressed_size);
          if (from >= 0 && len > 0 && from + len <= size) {
            const buf = new Uint8Array(len);
            const { bytesRead } = await fh.read(buf, 0, len, from);
            // Any surprise (odd pages, unknown encodings, corruption) is left to hyparquet, which reads or refuses it as before.
            if (bytesRead === len) slab = tryDecode(dec, buf, meta, rows);
          }
        }
        slabs.push(slab);
      }
      const slow = slabs.flatMap((s, i) => (s ? [] : [i]));
      if (slow.length) await slowSlabs(src, slow, start, rows, slabs);
      slabs.forEach((s, i) => { if (s!.offsets) perRow[i] = s!.values.length / rows; });
      for (let from = 0; from < rows;) {
        const take = Math.min(rows - from, b[0]!.room);
        for (let i = 0; i < b.length; i++) b[i]!.append(slabs[i]!, from, take);
        from += take;
        if (b[0]!.full) { yield b; b = fresh(); }
      }
      start += rows;
    }
    if (b[0]!.length > 0) yield b;
  } finally {
    await fh.close();
  }
}

function tryDecode(dec: ChunkDecoder, buf: Uint8Array, meta: Parameters<ChunkDecoder["decode"]>[1], rows: number): Slab | null {
  try {
    return dec.decode(buf, meta, rows);
  } catch {
    return null;
  }
}

/** The row group's other columns through hyparquet, value by value into ColumnBuilders, as slabs. */
async function slowSlabs(src: ColumnarSource, which: number[], start: number, rows: number, slabs: (Slab | null)[]): Promise<void> {
  const { fields, types } = src;
  const index = new Map(which.map((i) => [fields[i]!.element.name, i]));
  const chunks = new Map<number, { rowStart: number; data: ArrayLike<unknown> }[]>(which.map((i) => [i, []]));
  try {
    await parquetRead({
      file: src.file, metadata: src.metadata, rowStart: start, rowEnd: start + rows, parsers: src.parsers,
      columns: [...index.keys()],
      onChunk: (c) => { const i = index.get(c.columnName); if (i !== undefined) chunks.get(i)!.push({ rowStart: c.rowStart, data: c.columnData as ArrayLike<unknown> }); },
    });
  } catch (e) {
    throw src.broken(e);
  }
  const end = start + rows;
  for (const i of which) {
    const list = chunks.get(i)!.sort((x, y) => x.rowStart - y.rowStart);
    const builder = new ColumnBuilder(types[i]!, rows);
    const f = src.conv[i];
    let k = 0;
    for (let r = start; r < end; r++) {
      while (k < list.length && r >= list[k]!.rowStart + list[k]!.data.length) k++;
      const c = list[k];
      if (!c || r < c.rowStart) throw src.broken(new Error(`column ${fields[i]!.element.name} has no value for row ${r}`));
      const v = c.data[r - c.rowStart] as ArrowValue;
      builder.push(f ? f(v) : v);
    }
    slabs[i] = slabOfColumn(builder.finish());
  }
}
