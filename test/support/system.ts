import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT } from "jose";
import { natsConnectionOf, parseEnv, type Env } from "@dsb/runtime";
import { jetstreamManager } from "@nats-io/jetstream";
import { uploadBucket } from "@dsb/storage";
import { healthBucket } from "@dsb/catalog";
import { createLogger } from "@dsb/runtime";
import { cacheBucket } from "../../gateway/src/cache/kv-store.ts";
import { startSystem, type System } from "../../src/system.ts";
import { createScratchDatabase } from "./pg.ts";

export const JWT_SECRET = "e2e-secret-0123456789-0123456789-abcdef";
export const ENCRYPTION_KEY = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";

export interface RunningSystem {
  url: string;
  system: System;
  mode: "embedded" | "distributed";
  dataDir: string;
  /** The parsed environment the services run with (BUS_NAMESPACE, DATA_DIR…). */
  env: Env;
  /** A bearer token for a user of a tenant. */
  token(opts?: { tenant?: string; user?: string; role?: string }): Promise<string>;
  /** fetch against the gateway with a token (default tenant t1, user u1). */
  api(path: string, init?: RequestInit & { as?: { tenant?: string; user?: string; role?: string }; json?: unknown }): Promise<Response>;
  stop(): Promise<void>;
}

/**
 * The whole system in this process. Distributed (real NATS, PostgreSQL catalog
 * in a fresh database) when TEST_NATS_URL and TEST_DATABASE_URL are set, as in CI;
 * embedded (in-process bus, PGlite) otherwise or when asked.
 */
export async function startTestSystem(opts: { mode?: "embedded" | "distributed"; env?: Record<string, string>; natsUrl?: string; logTo?: NodeJS.WritableStream } = {}): Promise<RunningSystem> {
  const natsUrl = opts.natsUrl ?? process.env.TEST_NATS_URL;
  const dbUrl = process.env.TEST_DATABASE_URL;
  const mode = opts.mode ?? (natsUrl && dbUrl ? "distributed" : "embedded");
  const dataDir = mkdtempSync(join(tmpdir(), "dsb-e2e-"));
  let dropDb: (() => Promise<void>) | undefined;
  const vars: Record<string, string> = {
    PORT: "0", HOST: "127.0.0.1", DATA_DIR: dataDir, JWT_SECRET, ENCRYPTION_KEY, LOG_LEVEL: "silent", ALLOW_PRIVATE_HOSTS: "true",
    REPLICA_ID: `e2e${Math.random().toString(36).slice(2, 8)}`,
    // Parallel test files share the machine's NATS; a namespace keeps their services apart.
    BUS_NAMESPACE: `e2e${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`,
    ...opts.env,
  };
  if (mode === "distributed") {
    if (!natsUrl) throw new Error("distributed mode needs TEST_NATS_URL (or opts.natsUrl)");
    vars.NATS_URL = natsUrl;
  }
  // The catalog on PostgreSQL when one is given (CI), on PGlite otherwise.
  if (mode === "distributed" && dbUrl) {
    const scratch = await createScratchDatabase("dsb_e2e");
    vars.DATABASE_URL = scratch.url;
    dropDb = scratch.drop;
  }
  const env = parseEnv(vars);
  const system = await startSystem(env, opts.logTo ? createLogger("e2e", "trace", opts.logTo) : createLogger("e2e", "silent"));
  const url = `http://127.0.0.1:${system.gateway.port}`;
  const token = async (o: { tenant?: string; user?: string; role?: string } = {}) =>
    new SignJWT({ tenant_id: o.tenant ?? "t1", ...(o.role ? { role: o.role } : {}) })
      .setProtectedHeader({ alg: "HS256" }).setSubject(o.user ?? "u1").setExpirationTime("1h").sign(new TextEncoder().encode(JWT_SECRET));
  return {
    url, system, mode, dataDir, token, env,
    api: async (path, init = {}) => {
      const { as, json, ...rest } = init;
      const headers = new Headers(rest.headers);
      headers.set("authorization", `Bearer ${await token(as)}`);
      if (json !== undefined) headers.set("content-type", "application/json");
      return fetch(url + path, { ...rest, headers, ...(json !== undefined ? { body: JSON.stringify(json) } : {}) });
    },
    stop: async () => {
      // This system's upload bucket, health lease bucket and query cache bucket (its own, by namespace) go with it, or the machine's NATS fills up run after run.
      const nc = natsConnectionOf(system.bus);
      if (nc && !nc.isClosed()) {
        const jsm = await jetstreamManager(nc);
        for (const stream of [`OBJ_${uploadBucket(env.BUS_NAMESPACE)}`, `KV_${healthBucket(env.BUS_NAMESPACE)}`, `KV_${cacheBucket(env.BUS_NAMESPACE)}`]) await jsm.streams.delete(stream).catch(() => undefined);
      }
      await system.stop();
      await dropDb?.();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
