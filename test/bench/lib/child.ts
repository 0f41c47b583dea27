import { spawn } from "node:child_process";
import { openSync, closeSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./setup.ts";

/** Runs a command, stdout to /dev/null; resolves with its wall time in ms. */
export async function timeCommand(cmd: string, args: string[], env: Record<string, string> = {}): Promise<number> {
  const devnull = openSync("/dev/null", "w");
  try {
    const t0 = performance.now();
    const p = spawn(cmd, args, { stdio: ["ignore", devnull, "pipe"], env: { ...process.env, ...env } });
    let err = "";
    p.stderr!.on("data", (c: Buffer) => { err += c.toString(); });
    const code = await new Promise<number | null>((r) => p.once("exit", r));
    const ms = performance.now() - t0;
    if (code !== 0) throw new Error(`${cmd} exited with ${code}: ${err.slice(0, 500)}`);
    return ms;
  } finally {
    closeSync(devnull);
  }
}

export interface DuckResult { ms: number; cpuMs: number; rows: number; hwmMb: number }

/** The DuckDB baseline child (one thread); its own load time and peak RSS. */
export async function duckdb(mode: "csv" | "csv-quoted" | "parquet" | "to-parquet", file: string, out?: string): Promise<DuckResult> {
  const p = spawn(process.execPath, ["--import", "tsx", join(ROOT, "test/bench/lib/duckdb-child.ts"), mode, file, ...(out ? [out] : [])], {
    cwd: ROOT, stdio: ["ignore", "pipe", "pipe"],
  });
  let outText = "";
  let err = "";
  p.stdout!.on("data", (c: Buffer) => { outText += c.toString(); });
  p.stderr!.on("data", (c: Buffer) => { err += c.toString(); });
  const code = await new Promise<number | null>((r) => p.once("exit", r));
  if (code !== 0) throw new Error(`duckdb child failed (${code}): ${err.slice(0, 800)}`);
  return JSON.parse(outText.trim().split("\n").pop()!) as DuckResult;
}
