import { performance } from "node:perf_hooks";
import v8 from "node:v8";
import vm from "node:vm";
import type { Logger } from "pino";

/** How often a process looks at its event loop and heap. */
export const IDLE_GC_CHECK_MS = 5_000;
/** Idle: the event loop was busy for less than this share of a check interval. */
export const IDLE_UTILIZATION = 0.05;
/**
 * Checks in a row that must be idle. V8 gives back its young generation (32 MiB after load) only
 * in a collection that finds the allocation rate low, which it measures over the last several
 * seconds: collected 5 s into a quiet spell it kept it, 10 s in it let it go.
 */
export const IDLE_CHECKS = 3;

/**
 * One look: idle for IDLE_CHECKS checks, and the committed heap grew more than `growthBytes` since
 * the last collection. Committed, not used: V8 may have collected the garbage itself and still keep
 * the pages it was on.
 */
export function idleGcDue(s: { idleChecks: number; committed: number; baseline: number; growthBytes: number }): boolean {
  return s.growthBytes > 0 && s.idleChecks >= IDLE_CHECKS && s.committed - s.baseline > s.growthBytes;
}

let engine: ((opts?: { type: "minor" | "major" }) => void) | undefined;

/** V8's `gc(options?)`: the global one under --expose-gc, otherwise taken once from a fresh context (~15 ms on a busy machine). */
export function engineGc(): (opts?: { type: "minor" | "major" }) => void {
  let gc = engine ?? (globalThis as { gc?: () => void }).gc;
  if (!gc) {
    // The flag only puts `gc` into contexts created while it is on: take it from one, then turn it off again.
    v8.setFlagsFromString("--expose-gc");
    gc = vm.runInNewContext("gc") as () => void;
    v8.setFlagsFromString("--no-expose-gc");
  }
  return (engine = gc);
}

/**
 * The engine's full collection, compacting: `gc` when started with --expose-gc, otherwise the
 * same function taken from a fresh context. A plain full GC frees the objects but evacuates few
 * pages, so an old space left with a live object here and there stays committed (a fragmented
 * 184 MiB heap with 6 MiB live kept 161 MiB); compacting every page returns it (39 MiB).
 */
export function fullGc(): () => void {
  const collect = engineGc();
  return () => {
    v8.setFlagsFromString("--compact-on-every-full-gc");
    try {
      collect();
    } finally {
      v8.setFlagsFromString("--no-compact-on-every-full-gc");
    }
  };
}

/**
 * One full garbage collection when the process falls idle after a burst. V8 collects when
 * something allocates; an idle service allocates almost nothing, so the old space it grew to
 * under load stays committed, full of garbage: a minute after 2,000 connections the gateway
 * held 146 MiB of heap of which ~20 MiB was live (heap snapshots before and after found no
 * object kind that grew: no leak), RSS 92 → 239 MiB. V8's own memory reducer did not run in
 * that minute. A collection costs tens of milliseconds on these heaps, and runs at most once
 * per `growthBytes` of heap growth, only once the event loop has been nearly idle for 15 s, so it
 * never competes with requests. `growthBytes` 0 turns it off.
 */
export function collectWhenIdle(opts: {
  growthBytes: number; log?: Logger; checkMs?: number;
  /** The heap looked at and collected: V8's (tests give their own). */
  heap?: { committed(): number; collect(): void };
}): { stop(): void } {
  if (opts.growthBytes <= 0) return { stop() {} };
  const { committed, collect } = opts.heap ?? { committed: () => v8.getHeapStatistics().total_heap_size, collect: fullGc() };
  let baseline = committed();
  let last = performance.eventLoopUtilization();
  let idleChecks = 0;
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    idleChecks = performance.eventLoopUtilization(now, last).utilization < IDLE_UTILIZATION ? idleChecks + 1 : 0;
    last = now;
    const before = committed();
    if (!idleGcDue({ idleChecks, committed: before, baseline, growthBytes: opts.growthBytes })) return;
    const started = performance.now();
    collect();
    baseline = committed();
    opts.log?.debug({ heap_before_mib: Math.round(before / 2 ** 20), heap_after_mib: Math.round(baseline / 2 ** 20), ms: Math.round(performance.now() - started) }, "🧹 idle: heap collected");
  }, opts.checkMs ?? IDLE_GC_CHECK_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
