/**
 * The system in embedded mode, as `npm start` runs it: one process (`node dist/start-all.js`), the
 * in-process bus, the catalog in PGlite under a temporary DATA_DIR. Started beside the distributed
 * cluster with the same JWT secret, so the run's token works on both.
 */
import { spawn } from "node:child_process";
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildDist } from "../../support/build.ts";
import { ENCRYPTION_KEY, freePort, JWT_SECRET, onCleanup, ROOT, stopChild } from "./setup.ts";

export interface Embedded { url: string; pid: number }

export async function startEmbedded(): Promise<Embedded> {
  buildDist();
  const dir = mkdtempSync(join(tmpdir(), "dsb-bench-embedded-"));
  const port = await freePort();
  // Without NATS_URL and DATABASE_URL the process picks the embedded defaults.
  const { NATS_URL: _n, DATABASE_URL: _d, BUS_NAMESPACE: _b, ...inherited } = process.env;
  const env = { ...inherited, DATA_DIR: join(dir, "data"), PORT: String(port), HOST: "127.0.0.1", JWT_SECRET, ENCRYPTION_KEY, ALLOW_PRIVATE_HOSTS: "true", LOG_LEVEL: "warn" };
  const log = createWriteStream(join(dir, "embedded.log"));
  // BENCH_NODE_ARGS as node flags, as the distributed processes get them (--cpu-prof).
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? "").split(/\s+/).filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, join(ROOT, "dist/start-all.js")], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  onCleanup(async () => {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`embedded mode exited during start-up: ${readFileSync(join(dir, "embedded.log"), "utf8").slice(-800)}`);
    try {
      const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.ok) return { url, pid: child.pid! };
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error("embedded mode not ready after 60 s");
    await new Promise((r) => setTimeout(r, 200));
  }
}
