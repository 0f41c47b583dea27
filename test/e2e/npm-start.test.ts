import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { freePort } from "../support/nats-server.ts";

/** `npm start` on a clean data dir: nothing but Node, a printed token that works. */
describe("npm start (embedded defaults)", () => {
  it("comes up, prints a sample token that works, and stops on SIGTERM", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "dsb-start-"));
    const port = await freePort();
    const env: Record<string, string> = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/root", PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: "info" };
    const child = spawn(process.execPath, ["--import", "tsx", "src/start-all.ts"], { cwd: join(import.meta.dirname, "../.."), env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => { out += d; });
    child.stderr.on("data", (d) => { out += d; });
    try {
      // ~20 s on a quiet machine (PGlite creates its database); a loaded one (CI beside other work) takes minutes.
      const deadline = Date.now() + 150_000;
      while (!/Try it:/.test(out) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
      expect(out).toMatch(/Try it:/);
      const token = out.match(/Sample token[^\n]*\n\s+(\S+)/)?.[1];
      expect(token).toBeTruthy();
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      const res = await fetch(`http://127.0.0.1:${port}/api/data/sources`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      expect((await res.json()).success).toBe(true);
      expect(out).not.toMatch(/ENCRYPTION_KEY=|gAAAA/);
      // The first start says what it is doing before the slow part (PGlite creating its database).
      expect(out).toMatch(/creating the catalog database in .*first start takes ~20 s[\s\S]*catalog database created/);
      // The README's upload command, with the example file the repository ships.
      const form = new FormData();
      form.append("file", new Blob([readFileSync(join(import.meta.dirname, "../../examples/sales.csv"))]), "sales.csv");
      const up = await fetch(`http://127.0.0.1:${port}/api/data/upload`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: form });
      expect(up.status).toBe(201);
      expect((await up.json()).data_source).toMatchObject({ name: "sales.csv", format: "csv" });
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
      expect(child.exitCode).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 180_000);
});
