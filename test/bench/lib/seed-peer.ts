/**
 * The system we replace, as a baseline: `../shared/peers/seed-python` (FastAPI + SQLAlchemy
 * async, the seed's pools, Fernet credentials, history writes, JWT) set up with its own
 * setup.sh (Debian packages, its catalog database) and started with its run.sh. The bench
 * points it at the small-query scenario's database, so both answer the same SQL on the same
 * table with the same body. When the peer is absent or cannot be installed the caller gets
 * a reason to print instead of figures.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { freePort, onCleanup, ROOT, uniqueName } from "./setup.ts";

const run = promisify(execFile);

/** Beside the clone (CI copies shared/ there, read-only); BENCH_PEER_DIR overrides. */
export const PEER_DIR = process.env.BENCH_PEER_DIR ?? resolve(ROOT, "../shared/peers/seed-python");

export interface SeedPeer {
  /** Base URL per uvicorn worker count. */
  urls: Record<number, string>;
  token: string;
  sourceId: string;
}

export type PeerSetup = { ok: true; peer: SeedPeer } | { ok: false; reason: string };

const lastLines = (text: string, n = 5) => text.trim().split("\n").slice(-n).join(" | ");

/**
 * Runs setup.sh (idempotent: installs what is missing, makes a catalog database of the run's own,
 * re-creates `small` in targetDb, which the peer leaves alone otherwise) and starts one peer per
 * worker count on free ports. Everything is undone by the run's cleanup.
 */
export async function startSeedPeer(targetDb: string, workerCounts: number[]): Promise<PeerSetup> {
  if (!existsSync(join(PEER_DIR, "setup.sh"))) return { ok: false, reason: `seed-python peer not found at ${PEER_DIR} (set BENCH_PEER_DIR)` };
  const catalogDb = uniqueName("seedpy_catalog_bench");
  let vars: Record<string, string>;
  try {
    // apt-get may run here the first time: minutes on a loaded machine.
    const { stdout } = await run("bash", [join(PEER_DIR, "setup.sh"), catalogDb, targetDb], { cwd: PEER_DIR, timeout: 15 * 60_000, maxBuffer: 1 << 20 });
    vars = Object.fromEntries(stdout.split("\n").map((l) => l.match(/^([A-Z_]+)=(.*)$/)).filter((m) => m !== null).map((m) => [m[1]!, m[2]!]));
  } catch (e) {
    const err = e as { stderr?: string; message?: string };
    return { ok: false, reason: `seed-python peer setup failed (python packages not installable?): ${lastLines(err.stderr || err.message || String(e))}` };
  } finally {
    // setup.sh drops only the databases it created and marked (never targetDb, which already existed).
    onCleanup(() => run("bash", [join(PEER_DIR, "setup.sh"), "drop", catalogDb], { cwd: PEER_DIR }).then(() => undefined));
  }
  for (const k of ["CATALOG_URL", "FERNET_KEY", "JWT_SECRET", "TOKEN", "SOURCE_ID"]) {
    if (!vars[k]) return { ok: false, reason: `seed-python setup.sh printed no ${k}` };
  }
  const urls: Record<number, string> = {};
  for (const workers of workerCounts) {
    const port = String(await freePort());
    const env = { ...process.env, PORT: port, WORKERS: String(workers), CATALOG_URL: vars.CATALOG_URL!, FERNET_KEY: vars.FERNET_KEY!, JWT_SECRET: vars.JWT_SECRET! };
    try {
      await run("bash", [join(PEER_DIR, "run.sh"), "start"], { cwd: PEER_DIR, env, timeout: 60_000 });
    } catch (e) {
      const err = e as { stderr?: string; message?: string };
      return { ok: false, reason: `seed-python peer (${workers} worker(s)) did not start: ${lastLines(err.stderr || err.message || String(e))}` };
    } finally {
      onCleanup(() => run("bash", [join(PEER_DIR, "run.sh"), "stop"], { cwd: PEER_DIR, env: { ...process.env, PORT: port } }).then(() => undefined));
    }
    urls[workers] = `http://127.0.0.1:${port}`;
  }
  return { ok: true, peer: { urls, token: vars.TOKEN!, sourceId: vars.SOURCE_ID! } };
}
