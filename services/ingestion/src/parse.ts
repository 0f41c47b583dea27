import { basename } from "node:path";
import { AppError, buildSchema, type FileFormat, type ReplyInputOf } from "@dsb/contracts";
import type { BlobStore } from "@dsb/storage";
import { reclaiming, recyclePayload } from "@dsb/runtime";
import { detectFormat, SNIFF_BYTES } from "./detect.ts";
import type { FormatReader, ParsedTable } from "./dataset/table.ts";
import { datasetPrefix, manifestKey, SQL_TYPE, tableFileKey, type Manifest } from "./dataset/layout.ts";
import { writeArrowTable } from "./dataset/write.ts";
import { lz4Native } from "./dataset/lz4.ts";

/** Readers load on first use: exceljs and hyparquet stay out of memory until a file needs them. */
export const READERS: Record<FileFormat, () => Promise<FormatReader>> = {
  csv: async () => (await import("./formats/csv/index.ts")).readCsvDataset,
  xlsx: async () => (await import("./formats/xlsx/index.ts")).readXlsx,
  json: async () => (await import("./formats/json/index.ts")).readJson,
  ndjson: async () => (await import("./formats/json/index.ts")).readNdjson,
  parquet: async () => (await import("./formats/parquet/index.ts")).readParquet,
};

/**
 * Parquet uploads up to this size are read into memory instead of copied to a local file
 * (a second read of the object, a file written and read back); at most MAX_PARALLEL_PARSES at once.
 */
export const PARQUET_IN_MEMORY_BYTES = 32 * 1024 * 1024;

/** Table name of a single-table file: the file name without its extension. */
export function tableNameOf(filename: string): string {
  const base = basename(filename.replace(/\\/g, "/")).replace(/\.[^.]*$/, "").trim();
  return base || "data";
}

/**
 * Removes every dataset object of an upload. Table files are numbered from 0, so
 * probing by key finds them even when a failed parse left no manifest; this
 * avoids listing a whole Object Store bucket.
 */
export async function removeDatasets(store: BlobStore, key: string): Promise<number> {
  let n = 0;
  if (await store.exists(manifestKey(key))) { await store.delete(manifestKey(key)); n++; }
  for (let i = 0; await store.exists(tableFileKey(key, i)); i++) { await store.delete(tableFileKey(key, i)); n++; }
  return n;
}

/**
 * Sniffs, parses and types a stored upload, writes one Arrow IPC file per table
 * and a manifest beside it, and returns the schema. On failure nothing of the
 * dataset is left; the upload itself is the caller's to discard.
 */
export async function parseUpload(
  store: BlobStore, key: string, filename: string, phases: Record<string, number> = {}, live?: string,
): Promise<ReplyInputOf<"ingestion.parse">> {
  let mark = performance.now();
  /** Milliseconds since the last lap, added to `phases[name]` (the parse log's breakdown). */
  const lap = (name: string) => { const now = performance.now(); phases[name] = Math.round((phases[name] ?? 0) + now - mark); mark = now; };
  // A live upload is followed while the gateway stores it (parsing overlaps the upload).
  if (live && !store.follow) throw new AppError("INTERNAL", "This store cannot follow an upload while it is stored");
  const following = live ? store.follow!(key, live) : null;
  const stream = reclaiming(following ? following.chunks : store.get(key))[Symbol.asyncIterator]();
  /** The rest of a followed upload, read past: a local copy needs the whole object stored. */
  const stored = async () => { if (following) while (!(await stream.next()).done) { /* until the put ended */ } };
  // CSV is parsed from the stored stream as it arrives; other formats (and CSV rereads) need a local file.
  let local: Promise<{ path: string; release(): Promise<void> }> | null = null;
  let localPath: string | null = null;
  const localFile = async (): Promise<string> => (localPath = (await (local ??= stored().then(() => store.toLocalFile(key)))).path);
  try {
    const head: Uint8Array[] = [];
    let headBytes = 0;
    while (headBytes < SNIFF_BYTES) {
      const r = await stream.next();
      if (r.done) break;
      head.push(r.value);
      headBytes += r.value.byteLength;
    }
    /** The whole object in memory, read on by the stream that sniffed, when it is at most `limit` bytes; else null. */
    const wholeWithin = async (limit: number): Promise<Uint8Array | null> => {
      if (!following && (await store.stat(key)).size > limit) return null;
      let bytes = headBytes;
      for (let r = await stream.next(); !r.done; r = await stream.next()) {
        head.push(r.value);
        // Only a followed upload gets here past the limit: its size is known at its end.
        if ((bytes += r.value.byteLength) > limit) return null;
      }
      const whole = head.length === 1 ? head[0]! : Buffer.concat(head);
      head.length = 0; // the chunks are copied: not held through the parse
      return whole;
    };
    const format = detectFormat(Buffer.concat(head).subarray(0, SNIFF_BYTES), filename);
    lap("sniff_ms");
    const opts = { tableName: tableNameOf(filename) };
    let tables: ParsedTable[];
    let parquetBytes: Uint8Array | null;
    if (format === "csv") {
      const source: AsyncIterator<Uint8Array> = { next: async () => (head.length > 0 ? { done: false, value: head.shift()! } : stream.next()) };
      const size = following ? null : (await store.stat(key)).size;
      const after = following ? { size: () => following.size(), read: following.readAt } : undefined;
      tables = await (await import("./formats/csv/index.ts")).readCsvStream({ size, source, after, local: localFile, consumed: recyclePayload }, opts);
    } else if (format === "parquet" && (parquetBytes = await wholeWithin(PARQUET_IN_MEMORY_BYTES)) !== null) {
      // The footer comes last, so nothing decodes before the last byte; the stream that sniffed reads the rest.
      lap("read_ms");
      tables = await (await import("./formats/parquet/index.ts")).readParquetBytes(parquetBytes, opts);
    } else {
      head.length = 0;
      await stored();
      await stream.return(undefined);
      const path = await localFile();
      lap("local_copy_ms");
      tables = await (await READERS[format]())(path, opts);
    }
    const manifest: Manifest = { version: 1, format, tables: [] };
    let datasetBytes = 0;
    for (const [i, table] of tables.entries()) {
      const fileKey = tableFileKey(key, i);
      const written = await writeArrowTable(store, fileKey, table, { lz4: lz4Native() });
      datasetBytes += written.bytes;
      const { rowCount, bytes, columns, compression } = written;
      manifest.tables.push({ name: table.name, key: fileKey, rowCount, bytes, ...(compression ? { compression } : {}), columns });
    }
    lap("dataset_ms");
    const body = new TextEncoder().encode(JSON.stringify(manifest));
    await store.put(manifestKey(key), (async function* () { yield body; })(), { maxBytes: Number.MAX_SAFE_INTEGER });
    datasetBytes += body.byteLength;
    // The caller may have given up (timeout) and discarded the upload meanwhile: leave no orphan dataset.
    if (!(await store.exists(key))) throw new AppError("NOT_FOUND", "The upload was removed while it was being parsed");
    lap("manifest_ms");
    const schema = buildSchema(manifest.tables.map((t) => ({
      name: t.name, kind: "table" as const, rowCount: t.rowCount,
      columns: t.columns.map((c) => ({ name: c.name, type: SQL_TYPE[c.type], nullable: c.nullable })),
    })));
    return { format, schema, dataset_key: datasetPrefix(key), row_count: schema.total_rows, dataset_bytes: datasetBytes };
  } catch (e) {
    await removeDatasets(store, key).catch(() => {});
    if (e instanceof AppError) throw e;
    const msg = e instanceof Error ? (localPath ? e.message.split(localPath).join(filename) : e.message) : String(e);
    throw new AppError("PARSE_FAILED", `The file could not be parsed: ${msg}`);
  } finally {
    await stream.return(undefined).catch(() => undefined);
    if (local) await (await local.catch(() => null))?.release();
  }
}
