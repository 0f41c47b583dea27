import { UNHEALTHY_AFTER_FAILURES, type CheckResult, type HealthError, type HealthStatus } from "@dsb/contracts";

/** How checks are scheduled and judged (env HEALTH_*), in milliseconds. */
export interface HealthPolicy {
  intervalMs: number;
  degradedMs: number;
  timeoutMs: number;
  concurrency: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
}

/** The stored state a check moves forward. */
export interface HealthState {
  status: HealthStatus;
  consecutive_failures: number;
}

export interface HealthTransition {
  status: HealthStatus;
  consecutive_failures: number;
  latency_ms: number | null;
  error: HealthError | null;
  success: boolean;
  /** Milliseconds from this check to the next. */
  nextInMs: number;
}

/** Jitter of a backoff delay: ±20 %, so the doubled delays of one source never overlap. */
const JITTER = 0.2;

/** Delay after the n-th failure in a row (n ≥ 1): base doubling per failure up to max, with jitter. */
export function backoffMs(failures: number, policy: Pick<HealthPolicy, "backoffBaseMs" | "backoffMaxMs">, random = Math.random): number {
  const raw = Math.min(policy.backoffBaseMs * 2 ** Math.max(0, failures - 1), policy.backoffMaxMs);
  return Math.round(raw * (1 + JITTER * (2 * random() - 1)));
}

/**
 * The state after a check (API.md): an answer slower than degradedMs is `degraded`;
 * a failure is `degraded` until UNHEALTHY_AFTER_FAILURES in a row, then `unhealthy`.
 */
export function applyCheck(prev: HealthState, r: CheckResult, policy: HealthPolicy, intervalMs: number, random = Math.random): HealthTransition {
  if (r.ok) {
    return {
      status: r.latency_ms > policy.degradedMs ? "degraded" : "healthy", consecutive_failures: 0,
      latency_ms: r.latency_ms, error: null, success: true, nextInMs: intervalMs,
    };
  }
  const failures = prev.consecutive_failures + 1;
  return {
    status: failures >= UNHEALTHY_AFTER_FAILURES ? "unhealthy" : "degraded", consecutive_failures: failures,
    latency_ms: r.latency_ms, error: r.error ?? { code: "CONNECTION_FAILED", message: "Connection failed" }, success: false,
    nextInMs: backoffMs(failures, policy, random),
  };
}
