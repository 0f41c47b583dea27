import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { GatewayDeps } from "./deps.ts";
import { HISTORY_DROP_REASONS } from "./history.ts";

/** Prometheus request counts and latency by route and status, and the state of the history queue (Node only). */
export function createMetrics(): NonNullable<GatewayDeps["metrics"]> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const labelNames = ["method", "route", "status"] as const;
  const requests = new Counter({ name: "http_requests_total", help: "HTTP requests", labelNames, registers: [registry] });
  const latency = new Histogram({
    name: "http_request_duration_seconds", help: "HTTP request latency", labelNames, registers: [registry],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  });
  const historyDropped = new Counter({
    name: "ds_history_dropped_total", help: "Query history entries given up without being recorded, by reason (queue_full, too_large, refused)",
    labelNames: ["reason"] as const, registers: [registry],
  });
  // Every reason shows from the start, at 0, so a dashboard can tell "none dropped" from "no data".
  for (const reason of HISTORY_DROP_REASONS) historyDropped.inc({ reason }, 0);
  const historyQueued = new Gauge({ name: "ds_history_queued", help: "Query history entries waiting to be recorded (queued or on the bus)", registers: [registry] });
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
  };
}
