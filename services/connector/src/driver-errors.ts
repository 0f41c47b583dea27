import { AppError, toAppError } from "@dsb/contracts";
import { DriverError } from "./drivers/types.ts";

/**
 * Maps driver failures to the API's codes (messages are already free of secrets); anything else
 * goes to the contracts' `toAppError`. `signal` is the query's own: a driver that reports any abort
 * as "cancelled" still fails with TIMEOUT when the connector's timer aborted it.
 */
export function mapDriverError(e: unknown, what: "connect" | "query", timeoutMs?: number, signal?: AbortSignal): AppError {
  if (e instanceof DriverError) {
    if (e.kind === "cancelled" && (signal?.reason as DriverError | undefined)?.kind === "timeout") return mapDriverError(signal!.reason, what, timeoutMs);
    if (e.kind === "connection") return new AppError("CONNECTION_FAILED", e.message);
    if (e.kind === "timeout")
      return new AppError("TIMEOUT", timeoutMs ? `Query exceeded its timeout of ${timeoutMs} ms and was cancelled` : e.message);
    if (e.kind === "cancelled") return new AppError("CANCELLED", "Query was cancelled");
    return new AppError(what === "connect" ? "CONNECTION_FAILED" : "QUERY_FAILED", e.message);
  }
  return toAppError(e);
}
