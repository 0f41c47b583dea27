import { OpenAPIHono } from "@hono/zod-openapi";
import { AppError, type Actor } from "@dsb/contracts";
import { newRequestId } from "@dsb/bus";
import { requireAuth } from "./auth.ts";
import { nameRequest } from "./answer.ts";
import type { GatewayDeps, GatewayEnv } from "./deps.ts";
import { consoleRoutes } from "./console.ts";
import { docsRoutes } from "./docs.ts";
import { jsonBodyLimit } from "./body-limit.ts";
import { asAppError, errorResponse } from "./errors.ts";
import { databaseRoutes } from "./routes/databases.ts";
import { healthRoutes } from "./routes/health.ts";
import { queryRoutes } from "./routes/query.ts";
import { schemaRoutes } from "./routes/schema.ts";
import { sourceRoutes } from "./routes/sources.ts";
import { statsRoutes } from "./routes/stats.ts";
import { systemRoutes } from "./routes/system.ts";
import { uploadRoutes } from "./routes/upload.ts";
import { createSourceLookup } from "./source-lookup.ts";
import { createQueryHistory } from "./history.ts";
import { limitJsonDepth } from "./json-depth.ts";
import { validationHook } from "./openapi.ts";
import { createRunningQueries } from "./running-queries.ts";

/** Probes and scrapes: logged at debug, or they would drown the access log. */
const QUIET_ROUTES: ReadonlySet<string> = new Set(["/healthz", "/readyz", "/metrics"]);

/**
 * The level of a request's access line: 5xx at error, but 504 at warn — a query that outran
 * its own `timeout_ms` is the caller's budget running out, not a fault of the system (the
 * query line and the metrics still count it). A bus wait also ends in 504 only while the
 * replica doing the work still answers heartbeats; a silent or gone one is 503, at error.
 * Probes at debug, everything else at info.
 */
export function accessLevel(status: number, route: string): "error" | "warn" | "info" | "debug" {
  if (status === 504) return "warn";
  if (status >= 500) return "error";
  return QUIET_ROUTES.has(route) ? "debug" : "info";
}

/** One access line per request (level: `accessLevel`). No body, no query string, no header value. */
function accessLog(log: GatewayDeps["log"], l: { requestId: string; method: string; route: string; status: number; ms: number; actor?: Actor }): void {
  if (!log) return;
  const line = { requestId: l.requestId, method: l.method, route: l.route, status: l.status, ms: l.ms, tenant: l.actor?.tenant_id, user: l.actor?.user_id };
  const level = accessLevel(l.status, l.route);
  if (level === "error") log.error(line, "request");
  else if (level === "warn") log.warn(line, "request");
  else if (level === "debug") log.debug?.(line, "request");
  else log.info(line, "request");
}

/**
 * The gateway: auth, validation, error mapping, OpenAPI, streaming. Web-standard
 * APIs only; the bus and everything Node-specific come in through `deps`.
 */
export function createApp(deps: GatewayDeps): OpenAPIHono<GatewayEnv> {
  // A refused path parameter or query string: the 400 VALIDATION envelope (openapi.ts).
  const app = new OpenAPIHono<GatewayEnv>({ defaultHook: validationHook });

  app.use("*", async (c, next) => {
    const requestId = c.req.header("x-request-id")?.slice(0, 64) || newRequestId();
    c.set("requestId", requestId);
    const started = performance.now();
    await next();
    nameRequest(c, requestId);
    const seconds = (performance.now() - started) / 1000;
    // The route pattern, never the path (ids) or the query string (values).
    const route = c.req.routePath || "unmatched";
    const status = c.res.status;
    deps.metrics?.observe({ method: c.req.method, route, status, seconds });
    accessLog(deps.log, { requestId, method: c.req.method, route, status, ms: Math.round(seconds * 10_000) / 10, actor: c.get("actor") });
  });

  // Before any route reads a body: a JSON body over MAX_BODY_BYTES never reaches a handler.
  app.use("*", jsonBodyLimit(deps.limits.maxBodyBytes));

  app.onError((e, c) => {
    const err = asAppError(e);
    if (err.code === "INTERNAL") deps.log?.error({ err: e, requestId: c.get("requestId") }, "❌ request failed");
    return errorResponse(c, err);
  });
  app.notFound((c) => errorResponse(c, new AppError("NOT_FOUND", `No route for ${c.req.method} ${new URL(c.req.url).pathname}`)));

  // Answered before auth: the removed integration, the probes, the docs and the console's files.
  systemRoutes(app, deps);
  docsRoutes(app, deps);
  consoleRoutes(app, deps);

  app.use("/api/data/*", requireAuth(deps.verifier));
  app.use("/api/data/*", limitJsonDepth());
  databaseRoutes(app, deps);
  // A changed or deleted source loses its cached results with its route (events, and this gateway's own PATCH/DELETE).
  const sources = createSourceLookup(deps.bus, undefined, deps.cache && ((tenant, id) => {
    deps.cache!.dropSource(tenant, id).catch((e: Error) => deps.log?.warn({ err: e.message, source_id: id }, "⚠️ could not drop a source's cached results"));
  }));
  const history = createQueryHistory(deps.bus, deps.log, {
    maxQueued: deps.limits.historyQueueMax, maxQueuedBytes: deps.limits.historyQueueMaxBytes, batchWaitMs: deps.limits.historyBatchWaitMs,
    onDropped: (n, reason) => deps.metrics?.historyDropped?.(n, reason),
    onQueued: (n) => deps.metrics?.historyQueued?.(n),
  });
  sourceRoutes(app, deps, sources, history);
  healthRoutes(app, deps);
  schemaRoutes(app, deps);
  queryRoutes(app, deps, sources, history, deps.queries ?? createRunningQueries(deps.bus), deps.cache);
  uploadRoutes(app, deps);
  statsRoutes(app, deps, history);
  return app;
}
