import { Counter, Gauge, Histogram } from "prom-client";
import { ds, metric, processRegistry } from "@dsb/runtime";
import type { GatewayDeps } from "./deps.ts";
import { HISTORY_DROP_REASONS } from "./history.ts";
import { CACHE_RESULTS } from "./cache/index.ts";

/**
 * Prometheus series of the gateway (Node only): HTTP requests by route pattern and status,
 * the history queue, queries, the result cache. On the process registry, so in embedded
 * mode /metrics also shows the services' series.
 */
export function createMetrics(): NonNullable<GatewayDeps["metrics"]> {
  const registry = processRegistry();
  const labelNames = ["method", "route", "status"] as const;
  const requests = metric("http_requests_total", (registers) => new Counter({ name: "http_requests_total", help: "HTTP requests", labelNames, registers }));
  const latency = metric("http_request_duration_seconds", (registers) => new Histogram({
    name: "http_request_duration_seconds", help: "HTTP request latency", labelNames, registers,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  }));
  const historyDropped = metric("ds_history_dropped_total", (registers) => new Counter({
    name: "ds_history_dropped_total", help: "Query history entries given up without being recorded, by reason (queue_full, too_large, refused)",
    labelNames: ["reason"] as const, registers,
  }));
  // Every reason (and cache result) shows from the start, at 0, so a dashboard can tell "none" from "no data".
  for (const reason of HISTORY_DROP_REASONS) historyDropped.inc({ reason }, 0);
  const historyQueued = metric("ds_history_queued", (registers) => new Gauge({ name: "ds_history_queued", help: "Query history entries waiting to be recorded (queued or on the bus)", registers }));
  const queries = ds.queries();
  const duration = ds.queryDuration();
  const rows = ds.queryRows();
  const cache = ds.cacheRequests();
  for (const result of CACHE_RESULTS) cache.inc({ result }, 0);
  return {
    contentType: registry.contentType,
    historyDropped: (n, reason) => historyDropped.inc({ reason }, n),
    historyQueued: (n) => historyQueued.set(n),
    render: () => registry.metrics(),
    observe: ({ method, route, status, seconds }) => {
      const labels = { method, route, status: String(status) };
      requests.inc(labels);
      latency.observe(labels, seconds);
    },
    query: (m) => {
      queries.inc({ db_type: m.db_type, status: m.status });
      duration.observe({ db_type: m.db_type }, m.seconds);
      rows.inc({ db_type: m.db_type }, m.rows);
    },
    cache: (result) => cache.inc({ result }),
  };
}
