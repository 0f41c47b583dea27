import { createReadStream } from "node:fs";
import { mkdir, open, readdir, rename, rm, rmdir, stat, unlink } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";
import { randomUUID } from "node:crypto";
import { AppError } from "@dsb/contracts";
import { assertKey, limited, type BlobBody, type BlobInfo, type BlobStore } from "./blob-store.ts";

const TMP = ".tmp";
const WRITE_BYTES = 1024 * 1024;

/** Blobs as files under one directory (embedded mode). Writes go to a temp name and are renamed into place. */
export class FsBlobStore implements BlobStore {
  constructor(readonly dir: string) {}

  private pathOf(key: string): string {
    assertKey(key);
    if (key === TMP || key.startsWith(`${TMP}/`)) throw new AppError("VALIDATION", `Invalid storage key "${key}"`);
    return join(this.dir, ...key.split("/"));
  }

  async put(key: string, body: BlobBody, opts: { maxBytes: number }): Promise<{ size: number }> {
    const target = this.pathOf(key);
    const tmpDir = join(this.dir, TMP);
    await mkdir(tmpDir, { recursive: true });
    const tmp = join(tmpDir, randomUUID());
    const counter = { size: 0 };
    try {
      const fh = await open(tmp, "wx");
      try {
        // Chunks are copied into one staging buffer before the next is asked for (see BlobStore.put).
        const stage = Buffer.allocUnsafe(WRITE_BYTES);
        let fill = 0;
        const flush = async () => {
          for (let at = 0; at < fill;) at += (await fh.write(stage, at, fill - at)).bytesWritten;
          fill = 0;
        };
        for await (const chunk of limited(body, opts.maxBytes, counter)) {
          for (let off = 0; off < chunk.byteLength;) {
            const n = Math.min(WRITE_BYTES - fill, chunk.byteLength - off);
            stage.set(chunk.subarray(off, off + n), fill);
            fill += n;
            off += n;
            if (fill === WRITE_BYTES) await flush();
          }
        }
        await flush();
      } finally {
        await fh.close();
      }
      await mkdir(dirname(target), { recursive: true });
      await rename(tmp, target);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    return { size: counter.size };
  }

  async *get(key: string): AsyncIterable<Uint8Array> {
    const path = this.pathOf(key);
    if (!(await this.exists(key))) throw new AppError("NOT_FOUND", "Stored file not found");
    for await (const chunk of createReadStream(path)) yield chunk as Uint8Array;
  }

  async stat(key: string): Promise<{ size: number }> {
    const s = await stat(this.pathOf(key)).catch(() => null);
    if (!s?.isFile()) throw new AppError("NOT_FOUND", "Stored file not found");
    return { size: s.size };
  }

  async toLocalFile(key: string): Promise<{ path: string; release(): Promise<void> }> {
    const path = this.pathOf(key);
    if (!(await this.exists(key))) throw new AppError("NOT_FOUND", "Stored file not found");
    return { path, release: async () => {} };
  }

  async delete(key: string): Promise<void> {
    const path = this.pathOf(key);
    await unlink(path).catch((e: NodeJS.ErrnoException) => { if (e.code !== "ENOENT") throw e; });
    // Remove directories the key leaves empty so a failed upload leaves no trace.
    for (let d = dirname(path); d.startsWith(this.dir + sep) && d !== this.dir; d = dirname(d)) {
      try { await rmdir(d); } catch { break; }
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      return (await stat(this.pathOf(key))).isFile();
    } catch {
      return false;
    }
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    // Walk from the deepest directory the prefix names completely.
    const cut = prefix.lastIndexOf("/");
    const base = cut >= 0 ? join(this.dir, ...prefix.slice(0, cut).split("/").filter(Boolean)) : this.dir;
    const walk = async function* (dir: string, root: string): AsyncGenerator<BlobInfo> {
      let entries;
      try { entries = await readdir(dir, { withFileTypes: true }); } catch { return; }
      for (const e of entries) {
        const full = join(dir, e.name);
        const key = relative(root, full).split(sep).join("/");
        if (key === TMP) continue;
        if (e.isDirectory()) {
          if (key.startsWith(prefix) || prefix.startsWith(`${key}/`)) yield* walk(full, root);
        } else if (e.isFile() && key.startsWith(prefix)) {
          const s = await stat(full).catch(() => null);
          if (s) yield { key, size: s.size, modified: s.mtime };
        }
      }
    };
    yield* walk(base, this.dir);
  }
}
