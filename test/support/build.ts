import { spawnSync } from "node:child_process";
import { resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "../..");
let built = false;

/** Runs scripts/build.mjs once per process, so spawned services run the current sources' bundles. */
export function buildDist(): void {
  if (built) return;
  const r = spawnSync(process.execPath, ["scripts/build.mjs"], { cwd: ROOT, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`scripts/build.mjs failed: ${r.stderr || r.stdout}`);
  built = true;
}
