import { createServer, type Server } from "node:http";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type Metric } from "prom-client";
import type { Logger } from "pino";

/**
 * One Prometheus registry per process. In embedded mode every service runs in the
 * gateway's process, so the gateway's /metrics shows all series; in distributed mode
 * each service process serves its own on METRICS_PORT (serveMetrics). Labels never
 * carry source, tenant or user ids.
 */
export const metricsRegistry = new Registry();
let defaultsOn = false;

/** A metric of the process registry, made once however many times it is asked for (tests start several gateways in one process). */
export function metric<M extends Metric>(name: string, make: (registers: Registry[]) => M): M {
  return (metricsRegistry.getSingleMetric(name) as M | undefined) ?? make([metricsRegistry]);
}

/** Turns on Node's default process metrics (once) and returns the registry. */
export function processRegistry(): Registry {
  if (!defaultsOn) {
    collectDefaultMetrics({ register: metricsRegistry });
    defaultsOn = true;
  }
  return metricsRegistry;
}

const SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** The ds_* series of API.md "Metrics" (docs/metrics.md says what each means and what to alert on). */
export const ds = {
  queries: () => metric("ds_queries_total", (registers) => new Counter({ name: "ds_queries_total", help: "Queries answered or failed, cache hits included, by database type and status", labelNames: ["db_type", "status"] as const, registers })),
  queryDuration: () => metric("ds_query_duration_seconds", (registers) => new Histogram({ name: "ds_query_duration_seconds", help: "Query time as the gateway saw it (first byte to last row), by database type", labelNames: ["db_type"] as const, buckets: SECONDS, registers })),
  queryRows: () => metric("ds_query_rows_total", (registers) => new Counter({ name: "ds_query_rows_total", help: "Rows returned by queries and exports, by database type", labelNames: ["db_type"] as const, registers })),
  poolConnections: () => metric("ds_pool_connections", (registers) => new Gauge({ name: "ds_pool_connections", help: "Database connections held by this connector's pools, by database type and state (active, idle)", labelNames: ["db_type", "state"] as const, registers })),
  poolWaiting: () => metric("ds_pool_waiting", (registers) => new Gauge({ name: "ds_pool_waiting", help: "Requests waiting for a pooled connection, by database type", labelNames: ["db_type"] as const, registers })),
  cacheRequests: () => metric("ds_cache_requests_total", (registers) => new Counter({ name: "ds_cache_requests_total", help: "Queries that could use the result cache, by result (hit, miss, shared, bypass, refresh, error)", labelNames: ["result"] as const, registers })),
  healthSources: () => metric("ds_health_sources", (registers) => new Gauge({ name: "ds_health_sources", help: "Active database sources by health status", labelNames: ["status"] as const, registers })),
  uploads: () => metric("ds_uploads_total", (registers) => new Counter({ name: "ds_uploads_total", help: "Uploads parsed, by format and status", labelNames: ["format", "status"] as const, registers })),
  uploadBytes: () => metric("ds_upload_bytes_total", (registers) => new Counter({ name: "ds_upload_bytes_total", help: "Bytes of uploads parsed", registers })),
  busRequests: () => metric("ds_bus_requests_total", (registers) => new Counter({ name: "ds_bus_requests_total", help: "Bus requests served by this process, by subject and status (ok or the error code)", labelNames: ["subject", "status"] as const, registers })),
};

/** Serves the process registry as Prometheus text at /metrics on `port` (METRICS_PORT). */
export async function serveMetrics(port: number, log?: Logger, host = "0.0.0.0"): Promise<{ port: number; stop(): Promise<void> }> {
  const registry = processRegistry();
  const server: Server = createServer((req, res) => {
    if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
      (e: Error) => res.writeHead(500).end(e.message),
    );
  });
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(port, host, resolve));
  const address = server.address();
  const bound = typeof address === "object" && address ? address.port : port;
  log?.info({ port: bound }, `📈 metrics on http://localhost:${bound}/metrics`);
  return { port: bound, stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** A bus service's /metrics on METRICS_PORT, stopped with the process; nothing when the variable is unset. */
export async function serveMetricsFromEnv(env: { METRICS_PORT?: number }, log: Logger, shutdown: { add(name: string, stop: () => Promise<void>): void }): Promise<void> {
  if (env.METRICS_PORT === undefined) return;
  const m = await serveMetrics(env.METRICS_PORT, log);
  shutdown.add("metrics", () => m.stop());
}
