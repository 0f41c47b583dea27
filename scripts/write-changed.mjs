import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/**
 * Writes only the files whose bytes changed, each atomically (temp file + rename), in the
 * order given, and deletes nothing: processes already running from dist/ (a test cluster
 * while another test runs `npm start`) never see a half-written or vanished file when they
 * read one lazily. Returns how many files were written.
 * @param {{ path: string, contents: Uint8Array }[]} files
 */
export function writeChanged(files) {
  let written = 0;
  for (const f of files) {
    let same = false;
    try { same = Buffer.compare(readFileSync(f.path), f.contents) === 0; } catch { /* new file */ }
    if (same) continue;
    mkdirSync(dirname(f.path), { recursive: true });
    const tmp = `${f.path}.${process.pid}.tmp`;
    writeFileSync(tmp, f.contents);
    renameSync(tmp, f.path);
    written++;
  }
  return written;
}
