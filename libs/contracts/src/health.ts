import { z } from "zod";

/** Health states of a database source (API.md "Health monitoring"). */
export const HEALTH_STATUSES = ["unknown", "healthy", "degraded", "unhealthy"] as const;
export type HealthStatus = (typeof HEALTH_STATUSES)[number];

/** Worst first: the order of `GET /api/data/health`. */
export const HEALTH_SEVERITY: Readonly<Record<HealthStatus, number>> = { unhealthy: 0, degraded: 1, unknown: 2, healthy: 3 };

/** Failures in a row from which a source is `unhealthy` (fewer: `degraded`). */
export const UNHEALTHY_AFTER_FAILURES = 3;

/** Checks kept per source. */
export const HEALTH_CHECKS_KEPT = 50;

/** Why a check failed: a stable code and the database's own sentence (no connection details). */
export const HealthErrorSchema = z.object({ code: z.string(), message: z.string() });
export type HealthError = z.infer<typeof HealthErrorSchema>;

/** The health of one database source as every response shows it. */
export const SourceHealthSchema = z.object({
  status: z.enum(HEALTH_STATUSES),
  /** Last check (scheduled or `POST …/test`); null before the first. */
  checked_at: z.string().nullable(),
  last_success_at: z.string().nullable(),
  latency_ms: z.number().int().nullable(),
  error: HealthErrorSchema.nullable(),
  consecutive_failures: z.number().int().min(0),
  /** When the scheduler checks next; null when due now or monitoring is off for this source. */
  next_check_at: z.string().nullable(),
});
export type SourceHealth = z.infer<typeof SourceHealthSchema>;

export const UNKNOWN_HEALTH: SourceHealth = {
  status: "unknown", checked_at: null, last_success_at: null, latency_ms: null, error: null, consecutive_failures: 0, next_check_at: null,
};

/** One stored check, newest first in `GET /api/data/sources/{id}/health`. */
export const HealthCheckSchema = z.object({
  checked_at: z.string(),
  status: z.enum(HEALTH_STATUSES),
  latency_ms: z.number().int().nullable(),
  error: HealthErrorSchema.nullable(),
});
export type HealthCheck = z.infer<typeof HealthCheckSchema>;

/** Per-source monitoring settings (`health_check` of PATCH). */
export const HealthCheckSettingsSchema = z.object({
  enabled: z.boolean().default(true),
  /** Seconds between checks of a healthy source; null: HEALTH_CHECK_INTERVAL_S. */
  interval_seconds: z.number().int().min(10).max(86_400).nullable().default(null),
});
export type HealthCheckSettings = z.infer<typeof HealthCheckSettingsSchema>;

/** What one connection check found (connector.health.check). */
export const CheckResultSchema = z.object({
  ok: z.boolean(),
  latency_ms: z.number().int().min(0),
  server_version: z.string().nullable(),
  error: HealthErrorSchema.nullable(),
});
export type CheckResult = z.infer<typeof CheckResultSchema>;

/** An item of `GET /api/data/health`. */
export const HealthSummarySchema = z.object({ id: z.string(), name: z.string(), db_type: z.string().nullable(), health: SourceHealthSchema });
export const HealthCountsSchema = z.object(Object.fromEntries(HEALTH_STATUSES.map((s) => [s, z.number().int()])) as Record<HealthStatus, z.ZodNumber>);
