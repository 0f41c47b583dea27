import { open } from "node:fs/promises";
import { AppError } from "@dsb/contracts";
import { parquetRead, type AsyncBuffer, type FileMetaData, type ParquetParsers, type SchemaTree } from "hyparquet";
import { BulkColumn, slabKind, slabOfColumn, type Slab } from "../../dataset/bulk.ts";
import { ColumnBuilder, type ArrowValue } from "../../dataset/columns.ts";
import type { ColumnType } from "../../dataset/table.ts";
import { ChunkDecoder, FAST_CODECS, FAST_ENCODINGS, Scratch } from "./flat.ts";
import { fastPlan } from "./plan.ts";

/** Column chunk bytes by file offset: views of an upload held in memory, or reads of the local file. */
export interface ChunkBytes {
  size: number;
  /** Bytes [from, from + len), or null when the file ends before. */
  read(from: number, len: number): Promise<Uint8Array | null>;
  close(): Promise<void>;
}

export async function fileChunks(path: string): Promise<ChunkBytes> {
  const fh = await open(path, "r");
  const size = (await fh.stat()).size;
  return {
    size,
    async read(from, len) {
      const buf = new Uint8Array(len);
      return (await fh.read(buf, 0, len, from)).bytesRead === len ? buf : null;
    },
    close: () => fh.close(),
  };
}

export function memoryChunks(bytes: Uint8Array): ChunkBytes {
  return {
    size: bytes.length,
    read: async (from, len) => (from + len <= bytes.length ? bytes.subarray(from, from + len) : null),
    close: async () => {},
  };
}

export interface ColumnarSource {
  chunks: () => Promise<ChunkBytes>;
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

/** The decoders, their scratch and the batch of one read. */
interface ReadBuffers {
  scratch: Scratch;
  decoders: (ChunkDecoder | null)[];
  batch: BulkColumn[];
}

/**
 * The buffers of finished reads, by shape (column types, fast plans, batch size), for the
 * next read of that shape: fresh ones per upload (zeroed, then garbage) cost ~20% of the
 * bench upload's CPU. The newest sets are kept while they hold at most SPARE_BYTES together.
 */
const spares = new Map<string, ReadBuffers>();
export const SPARE_BYTES = 48 * 1024 * 1024;

const heldBy = (r: ReadBuffers) =>
  r.scratch.held + r.decoders.reduce((n, d) => n + (d?.held ?? 0), 0) + r.batch.reduce((n, c) => n + c.held, 0);

function keepSpare(shape: string, r: ReadBuffers): void {
  spares.delete(shape);
  spares.set(shape, r);
  let total = 0;
  for (const [k, v] of [...spares].reverse()) {
    total += heldBy(v);
    if (total > SPARE_BYTES) spares.delete(k);
  }
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
 * booleans or strings are decoded by flat.ts page by page straight into Arrow
 * buffers (bulk-copied into the batch, so a huge row group never sits decoded in
 * memory); everything else (nested, decimals, INT96, other encodings and codecs)
 * goes through hyparquet a row group at a time, as before.
 */
export async function* columnarBatches(src: ColumnarSource, batchRows: number): AsyncGenerator<ColumnBuilder[]> {
  const { fields, types, metadata } = src;
  const plans = fields.map((f, i) => (f.children.length ? null : fastPlan(f.element, types[i]!)));
  const shape = JSON.stringify([types, plans, batchRows]);
  const spare = spares.get(shape);
  spares.delete(shape);
  const scratch = spare?.scratch ?? new Scratch();
  const decoders = spare?.decoders ?? plans.map((plan, i) => (plan ? new ChunkDecoder(plan, slabKind(types[i]!), scratch) : null));
  const leaf = leafIndexes(fields);
  const bytes = await src.chunks();
  try {
    const { size } = bytes;
    // One batch, refilled: the writer asks for the next batch only once the store has copied this one.
    const b = spare?.batch ?? types.map((t) => new BulkColumn(t, batchRows));
    if (spare) for (const c of b) c.reset();
    let start = 0;
    for (const group of metadata.row_groups) {
      const rows = Number(group.num_rows);
      if (rows === 0) continue;
      const sources: (Cursor | null)[] = [];
      for (let i = 0; i < fields.length; i++) {
        const dec = decoders[i];
        const chunk = group.columns[leaf[i]!];
        const meta = chunk?.meta_data;
        let cursor: Cursor | null = null;
        if (dec && meta && !chunk.file_path && meta.path_in_schema.length === 1 && meta.path_in_schema[0] === fields[i]!.element.name
          && FAST_CODECS.has(meta.codec) && meta.encodings.every((e) => FAST_ENCODINGS.has(e))) {
          const from = Number(meta.dictionary_page_offset || meta.data_page_offset);
          const len = Number(meta.total_compressed_size);
          if (from >= 0 && len > 0 && from + len <= size) {
            const buf = await bytes.read(from, len);
            // A chunk whose page headers show anything unexpected is left to hyparquet, which reads or refuses it as before.
            if (buf && dec.begin(buf, meta, rows)) cursor = new Cursor(() => dec.next());
          }
        }
        sources.push(cursor);
      }
      const slow = sources.flatMap((s, i) => (s ? [] : [i]));
      if (slow.length) {
        const slabs = await slowSlabs(src, slow, start, rows);
        slow.forEach((i, k) => { let done = false; sources[i] = new Cursor(() => (done ? null : ((done = true), slabs[k]!))); });
      }
      for (let done = 0; done < rows;) {
        const take = Math.min(rows - done, b[0]!.room);
        try {
          for (let i = 0; i < b.length; i++) sources[i]!.take(b[i]!, take);
        } catch (e) {
          throw e instanceof AppError ? e : src.broken(e);
        }
        done += take;
        if (b[0]!.full) {
          yield b;
          for (const c of b) c.reset();
        }
      }
      start += rows;
    }
    if (b[0]!.length > 0) yield b;
    // Only after a read to its end: the writer asked past the last batch, so nothing holds these any more.
    for (const d of decoders) d?.drop();
    keepSpare(shape, { scratch, decoders, batch: b });
  } finally {
    await bytes.close();
  }
}

/** Successive slabs of one column chunk (pages, or the whole chunk from hyparquet), read as far as batches need. */
class Cursor {
  private slab: Slab | null = null;
  private pos = 0;

  constructor(private readonly pull: () => Slab | null) {}

  /** Appends this column's next `n` rows to `col`. */
  take(col: BulkColumn, n: number): void {
    while (n > 0) {
      if (!this.slab || this.pos >= this.slab.length) {
        this.slab = this.pull();
        this.pos = 0;
        if (!this.slab) throw new Error("parquet column chunk ends before its rows");
        continue;
      }
      const t = Math.min(n, this.slab.length - this.pos);
      col.append(this.slab, this.pos, t);
      this.pos += t;
      n -= t;
    }
  }
}

/** The row group's other columns through hyparquet, value by value into ColumnBuilders, as slabs. */
async function slowSlabs(src: ColumnarSource, which: number[], start: number, rows: number): Promise<Slab[]> {
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
  return which.map((i) => {
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
    return slabOfColumn(builder.finish());
  });
}
