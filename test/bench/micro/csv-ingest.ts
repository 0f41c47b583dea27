/**
 * Ingestion's CSV work on one file, in process (not a test): the file arrives as fresh 1 MiB
 * buffers (as the Object Store's chunks do) and is hashed as the follower does, parsed by
 * readCsvStream and written by writeArrowTable (LZ4 frames) into a store that copies and hashes
 * every chunk as the Object Store's put does. Prints CPU seconds per round and the SHA-256 of the
 * dataset bytes, which a change of the reader must leave as it was.
 * The first round includes compiling the hot functions; compare warmed rounds.
 *   npx tsx test/bench/micro/csv-ingest.ts <file.csv> [rounds]     (NO_LZ4=1: datasets without LZ4)
 */
import { createHash } from "node:crypto";
import { open, stat } from "node:fs/promises";
import type { BlobStore } from "@dsb/storage";
import { readCsvStream } from "../../../services/ingestion/src/formats/csv/index.ts";
import { writeArrowTable } from "../../../services/ingestion/src/dataset/write.ts";
import { lz4Native } from "../../../services/ingestion/src/dataset/lz4.ts";

const [file, roundsArg = "3"] = process.argv.slice(2);
if (!file) throw new Error("usage: csv-ingest.ts <file.csv> [rounds]");
const CHUNK = 1024 * 1024;

async function* objectChunks(path: string): AsyncGenerator<Uint8Array> {
  const fh = await open(path, "r");
  const sha = createHash("sha256");
  try {
    for (;;) {
      const buf = Buffer.allocUnsafeSlow(CHUNK);
      const { bytesRead } = await fh.read(buf, 0, CHUNK, null);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      sha.update(chunk);
      yield chunk;
    }
    sha.digest();
  } finally {
    await fh.close();
  }
}

/** Only put: copies each chunk into 1 MiB buffers and hashes them, as the Object Store's put does. */
function hashingStore(out: { digest: string; bytes: number }): BlobStore {
  return {
    async put(_key: string, body: AsyncIterable<Uint8Array>) {
      const sha = createHash("sha256");
      const outSha = createHash("sha256");
      const buf = new Uint8Array(CHUNK);
      let fill = 0;
      let size = 0;
      for await (const chunk of body) {
        for (let off = 0; off < chunk.byteLength;) {
          const n = Math.min(CHUNK - fill, chunk.byteLength - off);
          buf.set(chunk.subarray(off, off + n), fill);
          fill += n; off += n;
          if (fill === CHUNK) { sha.update(buf); fill = 0; }
        }
        outSha.update(chunk);
        size += chunk.byteLength;
      }
      if (fill > 0) sha.update(buf.subarray(0, fill));
      sha.digest();
      out.digest = outSha.digest("hex");
      out.bytes = size;
      return { size };
    },
  } as unknown as BlobStore;
}

const { size } = await stat(file);
const mb = size / 1e6;
for (let round = 0; round < Number(roundsArg); round++) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const source = objectChunks(file)[Symbol.asyncIterator]();
  const tables = await readCsvStream({ size, source, local: async () => file }, { tableName: "t" });
  const out = { digest: "", bytes: 0 };
  const written = await writeArrowTable(hashingStore(out), "k", tables[0]!, { lz4: process.env.NO_LZ4 ? null : lz4Native() });
  const u = process.cpuUsage(c0);
  const cpu = (u.user + u.system) / 1e6;
  console.log(`round ${round + 1}: ${cpu.toFixed(3)} s CPU (${(mb / cpu).toFixed(1)} MB per CPU-s), wall ${((performance.now() - t0) / 1000).toFixed(2)} s, ` +
    `${written.rowCount} rows, dataset ${out.bytes} B sha256 ${out.digest.slice(0, 16)}, rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`);
}
