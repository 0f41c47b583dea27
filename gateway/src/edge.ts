import { Bus } from "@dsb/bus";
import { connectNatsWebSocket } from "@dsb/bus/nats-ws";
import { createConsoleLogger, parseEnv, type EdgeLogger, type Env } from "@dsb/runtime/edge";
import { ObjectStoreBlobStore, uploadBucket } from "@dsb/storage/object-store";
import { createApp } from "./app.ts";
import { createVerifier } from "./auth.ts";
import { DOCS_ASSETS } from "./docs-assets.ts";
import { createRunningQueries } from "./running-queries.ts";
import { handleUpload } from "./upload.ts";

/** A running gateway on an edge runtime: the same app as on Node, its bus NATS over WebSocket. */
export interface EdgeGateway {
  fetch(req: Request): Promise<Response>;
  close(): Promise<void>;
}

/** Configuration mistakes an edge entry reports before it connects anywhere. */
function checkEdgeEnv(env: Env): void {
  if (!env.NATS_URL || !/^wss?:\/\//i.test(env.NATS_URL.split(",")[0]!.trim()))
    throw new Error("Set NATS_URL to the NATS WebSocket listener (ws://host:port or wss://host:port): edge runtimes reach NATS over WebSocket only, and have no embedded mode");
  if (!env.JWT_SECRET && !env.JWT_JWKS_URL)
    throw new Error("Set JWT_SECRET (HS256) or JWT_JWKS_URL (RS256/ES256): the gateway cannot verify tokens without one");
}

/**
 * Builds the gateway from environment variables as the runtime hands them over
 * (workerd bindings, Deno.env): parses them like the Node gateway, connects the bus
 * over WebSocket, opens the upload bucket, and returns the app's fetch handler.
 * Uploads stream the Web request body into the Object Store in bounded memory.
 */
export async function createEdgeGateway(vars: Record<string, string | undefined>, runtime: string): Promise<EdgeGateway> {
  const env = parseEnv(vars);
  checkEdgeEnv(env);
  const log: EdgeLogger = createConsoleLogger("gateway", env.LOG_LEVEL);
  const transport = await connectNatsWebSocket({
    servers: env.NATS_URL!, name: `gateway-${runtime}`, user: env.NATS_USER, pass: env.NATS_PASS, token: env.NATS_TOKEN,
    onStatus: (s) => {
      if (s.type === "disconnect") log.warn({}, "⚠️ NATS disconnected; reconnecting");
      else if (s.type === "reconnect") log.info({}, "✅ NATS reconnected");
    },
  });
  const bus = new Bus(transport, { defaultTimeoutMs: env.BUS_TIMEOUT_MS, log, namespace: env.BUS_NAMESPACE });
  const store = await ObjectStoreBlobStore.open(transport.nc, uploadBucket(env.BUS_NAMESPACE));
  // This replica's running queries, cancellable from any replica through gateway.query.cancel.
  const queries = createRunningQueries(bus);
  const cancels = queries.listen();
  const app = createApp({
    bus, log, queries,
    verifier: createVerifier({ secret: env.JWT_SECRET, jwksUrl: env.JWT_JWKS_URL, tenantClaim: env.JWT_TENANT_CLAIM, issuer: env.JWT_ISSUER, audience: env.JWT_AUDIENCE, requireExp: env.JWT_REQUIRE_EXP }),
    limits: { maxUploadBytes: env.MAX_UPLOAD_BYTES, maxBodyBytes: env.MAX_BODY_BYTES, queryMaxRows: env.QUERY_MAX_ROWS, defaultTimeoutMs: env.QUERY_DEFAULT_TIMEOUT_MS, busTimeoutMs: env.BUS_TIMEOUT_MS,
      historyQueueMax: env.HISTORY_QUEUE_MAX, historyQueueMaxBytes: env.HISTORY_QUEUE_MAX_BYTES },
    // No `body`: the multipart reader pulls the Web request stream, one chunk per Object Store write.
    upload: (req, actor) => handleUpload(req, { bus, store, actor, maxBytes: env.MAX_UPLOAD_BYTES }),
    docsAsset: async (name) => DOCS_ASSETS[name] ?? null,
  });
  log.info({ runtime, nats: env.NATS_URL!.replace(/\/\/[^@/]*@/, "//") }, `✅ gateway ready on ${runtime}`);
  return {
    fetch: async (req) => {
      const res = await app.fetch(req);
      // An answer before the body was read (a 413 by Content-Length, a 401 on an upload): read the body
      // to its end as Node's server does, or workerd closes the connection on a client still sending and
      // the client sees a broken pipe instead of the answer.
      if (res.status >= 400 && req.body && !req.bodyUsed) await req.body.pipeTo(new WritableStream()).catch(() => undefined);
      return res;
    },
    close: async () => { cancels.unsubscribe(); await bus.close(); },
  };
}

/** The environment as strings (workerd passes text bindings next to other bindings). */
export function stringVars(source: object): Record<string, string> {
  return Object.fromEntries(Object.entries(source).filter((e): e is [string, string] => typeof e[1] === "string"));
}

/** A 503 in the API's error shape for when the gateway could not start (bad variable, NATS unreachable). */
export function startFailure(e: unknown): Response {
  const message = e instanceof Error ? e.message : String(e);
  return Response.json({ success: false, error: `The gateway could not start: ${message}`, code: "UNAVAILABLE" }, { status: 503 });
}
