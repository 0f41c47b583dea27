import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { NATS_USERS, passwordVar, type NatsUser } from "../../deploy/gen-nats-conf.ts";

export const NATS_SERVER_BIN = process.env.NATS_SERVER_BIN ?? "/usr/sbin/nats-server";
export const CONF_PATH = fileURLToPath(new URL("../../deploy/nats.conf", import.meta.url));

/** Test password of a user (never a real secret). */
export const testPassword = (user: NatsUser) => `test-${user}-pw`;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface RunningNats {
  url: string;
  /** The conf's WebSocket listener (edge gateways), moved to a free port. */
  wsUrl: string;
  stop(): Promise<void>;
}

/**
 * Starts nats-server with the project's deploy/nats.conf on a free port. Only the JetStream
 * store directory is rewritten (to a temp dir; the conf's /data is the container volume), and
 * the monitoring port is turned off so parallel runs do not collide.
 */
export async function startProjectNats(): Promise<RunningNats> {
  const dir = mkdtempSync(join(tmpdir(), "dsb-nats-"));
  const port = await freePort();
  const wsPort = await freePort();
  const conf = readFileSync(CONF_PATH, "utf8").replace(/store_dir: "[^"]*"/, `store_dir: ${JSON.stringify(dir)}`)
    .replace(/(websocket \{\s*port: )\d+/, `$1${wsPort}`);
  writeFileSync(join(dir, "nats.conf"), conf);
  const env: Record<string, string> = { ...process.env } as Record<string, string>;
  for (const u of NATS_USERS) env[passwordVar(u)] = testPassword(u);
  const proc: ChildProcess = spawn(NATS_SERVER_BIN, ["-c", join(dir, "nats.conf"), "-a", "127.0.0.1", "-p", String(port), "-m", "0"], {
    env, stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  await new Promise<void>((resolve, reject) => {
    proc.stderr!.on("data", (b: Buffer) => {
      stderr += b.toString();
      if (stderr.includes("Server is ready")) resolve();
    });
    proc.once("exit", (code) => reject(new Error(`nats-server exited with ${code}: ${stderr}`)));
    proc.once("error", reject);
  });
  return {
    url: `nats://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${wsPort}`,
    stop: async () => {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once("exit", r));
        proc.kill("SIGTERM");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
