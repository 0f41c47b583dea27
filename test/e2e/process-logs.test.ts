import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeJwt } from "jose";
import { describe, expect, it } from "vitest";
import { freePort } from "../support/nats-server.ts";
import { ENCRYPTION_KEY } from "../support/system.ts";

const ROOT = join(import.meta.dirname, "../..");
const NATS = process.env.TEST_NATS_URL ?? "nats://127.0.0.1:4222";

/** Runs a process entry point from source until it exits or `until` matches its output (then SIGTERM). */
async function run(entry: string | { eval: string }, vars: Record<string, string>, until?: RegExp): Promise<{ out: string; stdout: string; code: number | null }> {
  const env = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/root", LOG_LEVEL: "info", ...vars };
  const args = typeof entry === "string" ? [entry] : ["--input-type=module", "-e", entry.eval];
  const child = spawn(process.execPath, ["--import", "tsx", ...args], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let stdout = "";
  child.stdout.on("data", (d) => { out += d; stdout += d; });
  child.stderr.on("data", (d) => { out += d; });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  try {
    // Generous: `npm start` through tsx took ~40 s at a load average of 12 on this 2-core machine.
    const deadline = Date.now() + 100_000;
    while (child.exitCode === null && Date.now() < deadline && !(until && until.test(out))) await new Promise((r) => setTimeout(r, 100));
    if (child.exitCode === null) child.kill("SIGTERM");
    return { out, stdout, code: await exited };
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
  }
}

/** Every output line that is not one of the two printed help blocks must be a JSON log entry. */
function logEntries(out: string): Record<string, unknown>[] {
  const entries: Record<string, unknown>[] = [];
  for (const line of out.split("\n")) {
    if (!line.trim() || /^(Sample token|Try it:|\s+(curl|open|ey)\S*)/.test(line)) continue;
    expect(line.match(/"service":/g), line).toHaveLength(1);
    entries.push(JSON.parse(line));
  }
  expect(out).not.toMatch(/\n\s+at /);
  return entries;
}

describe("process logs are one JSON line per entry", () => {
  it("npm start says it generated the JWT secret only the first time and prints a token that expires in 30 days", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "dsb-logs-"));
    try {
      const vars = async () => ({ PORT: String(await freePort()), DATA_DIR: dataDir });
      const first = await run("src/start-all.ts", await vars(), /Try it:/);
      const second = await run("src/start-all.ts", await vars(), /Try it:/);
      expect(first.code).toBe(0);
      expect(second.code).toBe(0);
      const secretLine = (out: string) => String(logEntries(out).find((e) => String(e.msg).includes("JWT_SECRET"))?.msg);
      expect(secretLine(first.out)).toMatch(/generated one in/);
      expect(secretLine(second.out)).toMatch(/using the stored one in/);
      expect(secretLine(second.out)).not.toMatch(/generated/);
      const services = new Set(logEntries(first.out).map((e) => e.service));
      expect([...services].sort()).toEqual(expect.arrayContaining(["catalog", "gateway", "ingestion"]));
      const token = second.out.match(/Sample token[^\n]*\n\s+(\S+)/)?.[1];
      const { exp, iat } = decodeJwt(token!);
      expect(exp! - iat!).toBe(30 * 24 * 3600);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 240_000);

  it("a bad variable is one fatal JSON line naming it, for every entry point", async () => {
    for (const entry of ["services/ingestion/src/main.ts", "services/connector/src/main.ts", "services/catalog/src/main.ts", "gateway/src/main.ts", "src/start-all.ts"]) {
      const { out, code } = await run(entry, { DATASET_CACHE_BYTES: "lots" });
      expect(code, out).toBe(1);
      expect(logEntries(out), out).toMatchObject([{ level: 60, msg: expect.stringMatching(/DATASET_CACHE_BYTES/) }]);
    }
  }, 120_000);

  it("a catalog that cannot reach its database logs one fatal JSON line and exits 1", async () => {
    const vars = { NATS_URL: NATS, ENCRYPTION_KEY, DATABASE_URL: `postgres://postgres@127.0.0.1:${await freePort()}/none`, BUS_NAMESPACE: `logs${Date.now().toString(36)}` };
    const { out, code } = await run("services/catalog/src/main.ts", vars);
    expect(code, out).toBe(1);
    expect(logEntries(out).filter((e) => e.level === 60)).toMatchObject([{ err: { type: expect.any(String), message: expect.any(String), stack: expect.any(String) } }]);
  }, 60_000);

  it("a gateway that cannot start logs one fatal JSON line and exits 1", async () => {
    const { out, code } = await run("gateway/src/main.ts", { NATS_URL: NATS, PORT: String(await freePort()), BUS_NAMESPACE: `logs${Date.now().toString(36)}` });
    expect(code, out).toBe(1);
    expect(logEntries(out).filter((e) => e.level === 60)).toMatchObject([{ err: { message: expect.stringMatching(/JWT_SECRET/) } }]);
  }, 60_000);

  it("what a library prints with console.error or console.warn becomes a JSON line, stack and all", async () => {
    const { out, code } = await run({ eval: `import { startProcess } from "@dsb/runtime"; startProcess("probe"); console.error(new Error("boom")); console.warn("careful\\nnow", { a: 1 });` }, {});
    expect(code, out).toBe(0);
    expect(logEntries(out)).toMatchObject([
      { level: 50, service: "probe", err: { message: "boom", stack: expect.stringContaining("Error: boom\n    at ") } },
      { level: 40, service: "probe", console: "careful\nnow { a: 1 }" },
    ]);
  });
});
