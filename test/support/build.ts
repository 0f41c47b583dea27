import { spawnSync } from "node:child_process";
import { resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "../..");

/** The deployables as bundles of scripts/build.mjs (`node dist/<service>.js`, as deployed). */
export const BUNDLES = {
  gateway: "dist/gateway.js",
  catalog: "dist/catalog.js",
  connector: "dist/connector.js",
  ingestion: "dist/ingestion.js",
} as const;
export type Deployable = keyof typeof BUNDLES;

/** The development key and secret of every multi-process harness (tests and bench). */
export const DEV_ENCRYPTION_KEY = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
let built = false;

/** Runs scripts/build.mjs once per process, so spawned services run the current sources' bundles. */
export function buildDist(): void {
  if (built) return;
  const r = spawnSync(process.execPath, ["scripts/build.mjs"], { cwd: ROOT, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`scripts/build.mjs failed: ${r.stderr || r.stdout}`);
  built = true;
}
