import { collectDefaultMetrics, Counter, Histogram, Registry } from "prom-client";
import type { GatewayDeps } from "./deps.ts";

/** Prometheus request counts and latency by route and status (Node only). */
export function createMetrics(): NonNullable<GatewayDeps["metrics"]> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const labelNames = ["method", "route", "status"] as const;
  const requests = new Counter({ name: "http_requests_total", help: "HTTP requests", labelNames, registers: [registry] });
  const latency = new Histogram({
    name: "http_request_duration_seconds", help: "HTTP request latency", labelNames, registers: [registry],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  });
  return {
    contentType: registry.contentType,
    render: () => registry.metrics(),
    observe: ({ method, route, status, seconds }) => {
      const labels = { method, route, status: String(status) };
      requests.inc(labels);
      latency.observe(labels, seconds);
    },
  };
}
