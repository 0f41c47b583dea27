import { spawn, type ChildProcess } from "node:child_process";
import { resolve } from "node:path";
import { buildDist } from "./build.ts";
import { freePort } from "./nats-server.ts";

const ROOT = resolve(import.meta.dirname, "../..");

export const EDGE_RUNTIMES = ["workerd", "deno"] as const;
export type EdgeRuntime = (typeof EDGE_RUNTIMES)[number];

/** How each runtime is started: the same commands as `npm run start:gateway:<runtime>` after the build. */
const COMMANDS: Record<EdgeRuntime, string[]> = {
  workerd: [process.execPath, "scripts/workerd.mjs"],
  deno: [resolve(ROOT, "node_modules/.bin/deno"), "run", "--allow-net", "--allow-env", "dist/edge/deno.js"],
};

export interface EdgeGatewayProcess {
  url: string;
  pid: number;
  /** What the process printed (its JSON log lines), for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * The gateway's edge bundle on workerd or Deno as its own process, configured by the
 * same environment variables as the Node gateway; resolves once /healthz answers.
 */
export async function startEdgeGateway(runtime: EdgeRuntime, vars: Record<string, string>): Promise<EdgeGatewayProcess> {
  buildDist();
  const port = await freePort();
  const [cmd, ...args] = COMMANDS[runtime];
  const child: ChildProcess = spawn(cmd!, args, {
    cwd: ROOT, stdio: ["ignore", "pipe", "pipe"],
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...vars, PORT: String(port), HOST: "127.0.0.1" },
  });
  let out = "";
  child.stdout!.on("data", (b: Buffer) => { out = (out + b.toString()).slice(-20_000); });
  child.stderr!.on("data", (b: Buffer) => { out = (out + b.toString()).slice(-20_000); });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${runtime} gateway exited with ${child.exitCode}: ${out}`);
    const up = await fetch(`${url}/healthz`).then((r) => r.ok, () => false);
    if (up) break;
    if (Date.now() > deadline) { child.kill("SIGKILL"); throw new Error(`${runtime} gateway did not answer /healthz within 30 s: ${out}`); }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url, pid: child.pid!,
    output: () => out,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    },
  };
}
