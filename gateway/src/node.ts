import { createServer } from "node:http";
import { readFile, mkdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { randomBytes } from "node:crypto";
import { serve, type ServerType } from "@hono/node-server";
import { SignJWT } from "jose";
import type { Bus } from "@dsb/bus";
import { collectAfterJob, reclaimer, reclaiming, relaxHeapGrowth, type Env, type Logger } from "@dsb/runtime";
import type { BlobStore } from "@dsb/storage";
import { createApp } from "./app.ts";
import { createVerifier } from "./auth.ts";
import { consoleAssetLoader, loopbackSampleToken } from "./console-files.ts";
import { createMetrics } from "./metrics.ts";
import { openQueryCache } from "./cache/open.ts";
import { handleUpload } from "./upload.ts";
import { guardStreamedBody } from "./stream-guard.ts";
import { createRunningQueries } from "./running-queries.ts";
import { EMBEDDED_BATCH_WAIT_MS } from "./history.ts";

const ASSET_TYPES: Record<string, string> = { "swagger-ui.css": "text/css; charset=utf-8", "swagger-ui-bundle.js": "application/javascript; charset=utf-8" };

/** Serves the /docs viewer's files from the swagger-ui-dist package (no CDN). */
function docsAssetLoader() {
  const dir = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
  return async (name: string) => {
    const type = ASSET_TYPES[name];
    if (!type) return null;
    return { body: new Uint8Array(await readFile(join(dir, name))), type };
  };
}

/** Embedded mode without JWT_SECRET: a secret kept in DATA_DIR so tokens survive restarts. */
async function embeddedSecret(env: Env): Promise<{ secret: string; generated: boolean }> {
  const path = join(env.DATA_DIR, "jwt.secret");
  try {
    return { secret: (await readFile(path, "utf8")).trim(), generated: false };
  } catch {
    await mkdir(env.DATA_DIR, { recursive: true });
    const secret = randomBytes(32).toString("base64url");
    await writeFile(path, secret, { mode: 0o600 });
    return { secret, generated: true };
  }
}

export async function sampleToken(secret: string, tenantClaim: string): Promise<string> {
  return new SignJWT({ [tenantClaim]: "demo-tenant", role: "admin" })
    .setProtectedHeader({ alg: "HS256" }).setSubject("demo-user").setIssuedAt().setExpirationTime("30d")
    .sign(new TextEncoder().encode(secret));
}

export interface GatewayHandle {
  port: number;
  server: ServerType;
  stop(): Promise<void>;
}

/** Starts the HTTP server on env.PORT with the given bus and upload store. */
export async function startGateway(opts: { env: Env; bus: Bus; log: Logger; store: BlobStore }): Promise<GatewayHandle> {
  const { env, bus, log, store } = opts;
  let secret = env.JWT_SECRET;
  let sample: string | undefined;
  if (!secret && !env.JWT_JWKS_URL) {
    if (!env.embedded) throw new Error("Set JWT_SECRET (HS256) or JWT_JWKS_URL (RS256/ES256): the gateway cannot verify tokens without one");
    const stored = await embeddedSecret(env);
    secret = stored.secret;
    const path = join(env.DATA_DIR, "jwt.secret");
    log.info({ tenant: "demo-tenant" }, stored.generated ? `🔑 no JWT_SECRET: generated one in ${path}` : `🔑 no JWT_SECRET: using the stored one in ${path}`);
    sample = await sampleToken(secret, env.JWT_TENANT_CLAIM);
    console.log(`\nSample token (tenant demo-tenant, admin, 30 days):\n  ${sample}\n`);
  }
  // This replica's running queries, cancellable from any replica through gateway.query.cancel.
  const queries = createRunningQueries(bus);
  const cancels = queries.listen();
  const metrics = createMetrics();
  const cache = await openQueryCache(env, bus, log, (r) => metrics.cache?.(r));
  const app = createApp({
    bus, log, queries, cache,
    verifier: createVerifier({ secret, jwksUrl: env.JWT_JWKS_URL, tenantClaim: env.JWT_TENANT_CLAIM, issuer: env.JWT_ISSUER, audience: env.JWT_AUDIENCE, requireExp: env.JWT_REQUIRE_EXP }),
    limits: { maxUploadBytes: env.MAX_UPLOAD_BYTES, maxBodyBytes: env.MAX_BODY_BYTES, queryMaxRows: env.QUERY_MAX_ROWS, defaultTimeoutMs: env.QUERY_DEFAULT_TIMEOUT_MS, busTimeoutMs: env.BUS_TIMEOUT_MS,
      historyQueueMax: env.HISTORY_QUEUE_MAX, historyQueueMaxBytes: env.HISTORY_QUEUE_MAX_BYTES, queryCacheTtlS: env.QUERY_CACHE_TTL_S,
      ...(env.embedded ? { historyBatchWaitMs: EMBEDDED_BATCH_WAIT_MS } : {}) },
    upload: (req, actor, body) => handleUpload(req, { bus, store, actor, maxBytes: env.MAX_UPLOAD_BYTES, body: body && reclaiming(body), log }).finally(() => collectAfterJob()),
    metrics,
    docsAsset: docsAssetLoader(),
    consoleAsset: consoleAssetLoader(),
    ...(sample ? { consoleSampleToken: loopbackSampleToken(sample) } : {}),
  });
  const server = await new Promise<ServerType>((resolve) => {
    const fetch = async (req: Request, bindings: { outgoing?: { destroy(): unknown } }) => guardStreamedBody(await app.fetch(req, bindings), bindings.outgoing, log, reclaimer(), relaxHeapGrowth);
    const s = serve({ fetch, port: env.PORT, hostname: env.HOST, createServer }, () => resolve(s));
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : env.PORT;
  log.info({ port }, `✅ gateway listening on http://localhost:${port}`);
  return {
    port, server,
    stop: () => new Promise<void>((resolve) => {
      cancels.unsubscribe();
      server.close(() => resolve());
      (server as { closeAllConnections?: () => void }).closeAllConnections?.();
    }),
  };
}
