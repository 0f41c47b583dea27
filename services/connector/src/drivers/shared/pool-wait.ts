import { DriverError } from "../types.ts";

/**
 * How long a call without a signal of its own (test, introspection, other catalog reads) waits
 * for a free pooled connection before it gives up. Queries wait as long as their signal allows.
 */
export const POOL_WAIT_MS = 60_000;

/**
 * Every connection of the source stayed busy for the whole wait. Kind "timeout": the API answers
 * TIMEOUT (504, retryable), as for a query that ran out of time; the database itself is fine, so
 * CONNECTION_FAILED (422, "fix the source") would send the user to the wrong place.
 */
export function poolBusyError(max: number, waitedMs: number): DriverError {
  return new DriverError(
    "timeout",
    `All ${max} connections of this source stayed busy with running queries for ${Math.round(waitedMs / 1000)} s; retry when the running queries finish`,
  );
}

/** How a wait for a pooled connection ends early. */
export interface PoolWait {
  /** The query's signal: the wait ends when it fires. Without one the wait ends after `boundMs`. */
  signal?: AbortSignal | undefined;
  /** Without a signal: how long to wait (POOL_WAIT_MS unless given). */
  boundMs?: number;
  /** The error when the signal fires while waiting: the driver's own for a stopped query. */
  aborted?: () => Error;
  /** The error when `boundMs` passes. */
  busy: () => Error;
}

const abortError = (wait: PoolWait): Error => wait.aborted?.() ?? new DriverError("cancelled", "Query was cancelled while it waited for a free connection");

/**
 * Waits for `acquire` (a pool's checkout) until the wait ends (see PoolWait). Pools that cannot
 * drop a waiter (pg-pool, mysql2) still serve it later: `giveBack` returns that late connection
 * to the pool at once, unused, so the slot goes to the next waiter. Rejections of `acquire`
 * pass through unchanged.
 */
export function waitForConnection<T>(acquire: Promise<T>, giveBack: (c: T) => void, wait: PoolWait): Promise<T> {
  const { signal } = wait;
  if (signal?.aborted) {
    void acquire.then(giveBack, () => undefined);
    return Promise.reject(abortError(wait));
  }
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const end = (e: Error) => {
      if (settled) return;
      settled = true;
      cleanup();
      reject(e);
    };
    const onAbort = () => end(abortError(wait));
    const timer = signal ? null : setTimeout(() => end(wait.busy()), wait.boundMs ?? POOL_WAIT_MS);
    timer?.unref();
    signal?.addEventListener("abort", onAbort, { once: true });
    const cleanup = () => {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    acquire.then(
      (c) => {
        if (settled) return giveBack(c);
        settled = true;
        cleanup();
        resolve(c);
      },
      (e: unknown) => {
        if (settled) return;
        settled = true;
        cleanup();
        reject(e);
      },
    );
  });
}
