import { tableFromIPC } from "@uwdata/flechette";
import * as aq from "arquero";
import { AppError } from "@dsb/contracts";
import type { BlobStore } from "@dsb/storage";
import { columnKey, ManifestSchema, manifestKey, type Manifest, type ManifestTable } from "../dataset/layout.ts";
import { ByteLru } from "./cache.ts";
import { lz4Unframe } from "../dataset/lz4.ts";

export type ArqueroTable = ReturnType<typeof aq.table>;

export interface LoadedTable {
  meta: ManifestTable;
  table: ArqueroTable;
}

async function readAll(store: BlobStore, key: string): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const c of store.get(key)) { parts.push(c); n += c.byteLength; }
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.byteLength; }
  return out;
}

/** The Arrow IPC stream of a table's stored object. */
export const ipcOf = (stored: Uint8Array, meta: Pick<ManifestTable, "compression">): Uint8Array =>
  (meta.compression === "lz4" ? lz4Unframe(stored) : stored);

/** Datasets in memory for file queries: manifests and tables share one byte-bounded LRU. */
export class DatasetCache {
  private readonly lru: ByteLru<Manifest | ArqueroTable>;
  constructor(private readonly store: BlobStore, maxBytes: number) {
    this.lru = new ByteLru(maxBytes);
  }

  get bytes(): number {
    return this.lru.bytes;
  }

  async manifest(uploadKey: string): Promise<Manifest> {
    const key = manifestKey(uploadKey);
    return (await this.lru.get(key, async () => {
      let bytes: Uint8Array;
      try { bytes = await readAll(this.store, key); } catch (e) {
        if (e instanceof AppError && e.code === "NOT_FOUND") throw new AppError("NOT_FOUND", "The dataset of this file source is missing; upload the file again");
        throw e;
      }
      return { value: ManifestSchema.parse(JSON.parse(new TextDecoder().decode(bytes))), bytes: bytes.byteLength + 1024 };
    })) as Manifest;
  }

  /** The table named `name`, or the only table; VALIDATION names the tables otherwise. */
  async table(uploadKey: string, name: string | undefined): Promise<LoadedTable> {
    const m = await this.manifest(uploadKey);
    const names = m.tables.map((t) => t.name);
    let meta: ManifestTable | undefined;
    if (name === undefined) {
      if (m.tables.length !== 1) throw new AppError("VALIDATION", `This file has several tables; set query_config.table to one of: ${names.join(", ")}`);
      meta = m.tables[0];
    } else {
      meta = m.tables.find((t) => t.name === name) ?? m.tables.find((t) => t.name.toLowerCase() === name.toLowerCase());
      if (!meta) throw new AppError("VALIDATION", `Unknown table "${name}". Tables of this file: ${names.join(", ")}`);
    }
    const found = meta!;
    const table = (await this.lru.get(found.key, async () => {
      const bytes = ipcOf(await readAll(this.store, found.key), found);
      const arrow = tableFromIPC(bytes, { useBigInt: true, useDate: true });
      // Arquero sees the dataset's own column names (see columnKey); runQuery translates.
      const cols: Record<string, unknown> = {};
      found.columns.forEach((c, i) => {
        const col = arrow.getChild(columnKey(i));
        // Integers are stored as int64 (or int32 from CSV); read them back as numbers (they are safe by construction).
        cols[columnKey(i)] = c.type === "integer" ? Array.from(col, (v) => (v === null ? null : Number(v))) : col;
      });
      // Rough in-memory weight: Arrow buffers plus boxed arrays for converted columns.
      const weight = bytes.byteLength * 2 + found.rowCount * 8 * found.columns.filter((c) => c.type === "integer").length;
      return { value: aq.table(cols as Parameters<typeof aq.table>[0]), bytes: weight };
    })) as ArqueroTable;
    return { meta: found, table };
  }

  /** Forgets everything cached for an upload. */
  evict(uploadKey: string): void {
    this.lru.deletePrefix(uploadKey);
  }
}
