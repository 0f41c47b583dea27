import { performance } from "node:perf_hooks";
import { AppError, type CheckResult, type ParsedRequestOf } from "@dsb/contracts";
import { mapDriverError } from "../driver-errors.ts";
import type { Connection } from "../drivers/types.ts";
import { resolveSource, throwaway } from "../sources.ts";
import type { ConnectorDeps } from "./deps.ts";

/** Errors that say the check could not run (the caller retries later), not that the source failed. */
const DID_NOT_RUN: ReadonlySet<string> = new Set(["NOT_FOUND", "UNAVAILABLE", "TIMEOUT"]);

/**
 * A health check of a stored source: a connection of its own (not the pool: a
 * monitored source nobody queries should not keep a pool open), connect plus the
 * driver's trivial query, within `timeout_ms` whatever the driver does. A failing
 * source is an `ok: false` reply; an error reply means the check did not run.
 */
export async function handleHealthCheck(deps: ConnectorDeps, req: ParsedRequestOf<"connector.health.check">): Promise<CheckResult> {
  const t0 = performance.now();
  const elapsed = () => Math.round(performance.now() - t0);
  const failed = (e: unknown): CheckResult => {
    const err = mapDriverError(e, "connect");
    return { ok: false, latency_ms: elapsed(), server_version: null, error: { code: err.code, message: err.message } };
  };
  let src;
  try {
    src = await resolveSource(deps, req.tenant_id, req.id);
  } catch (e) {
    if (e instanceof AppError && DID_NOT_RUN.has(e.code)) throw e;
    return failed(e); // a stored config that no longer validates or decrypts: the source is broken
  }
  let conn: Connection | undefined;
  let abandoned = false;
  const work = (async () => {
    conn = await throwaway(deps, src.config);
    if (abandoned) return null;
    return (await conn.test()).serverVersion;
  })();
  // Whenever it ends, after the answer or long after a timeout, the connection is closed.
  void work.catch(() => undefined).finally(() => void conn?.close().catch(() => undefined));
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AppError("TIMEOUT", `No answer within ${req.timeout_ms} ms`)), req.timeout_ms);
  });
  try {
    const serverVersion = await Promise.race([work, timeout]);
    return { ok: true, latency_ms: elapsed(), server_version: serverVersion ?? null, error: null };
  } catch (e) {
    abandoned = true;
    return failed(e);
  } finally {
    clearTimeout(timer);
  }
}
