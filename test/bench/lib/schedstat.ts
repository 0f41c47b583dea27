import { readFileSync } from "node:fs";

/** Where a process's wall time went while watched: on a core, waiting for one, or asleep (blocked on I/O: for a COPY's backend, its client not reading). */
export interface TimeSplit { wallMs: number; cpuMs: number; runQueueMs: number; asleepMs: number }

/** /proc/<pid>/schedstat: ns on a core, ns runnable but waiting in a run queue. */
function schedstat(pid: number): [number, number] | null {
  try {
    const [run, wait] = readFileSync(`/proc/${pid}/schedstat`, "utf8").split(" ").map(Number);
    return [run! / 1e6, wait! / 1e6];
  } catch {
    return null;
  }
}

/**
 * Watches a process every `everyMs` until `stop()` (or its exit: the last reading counts), and
 * splits the time between the first and last readings into CPU, run-queue wait and sleep.
 */
export function watchTimeSplit(pid: number, everyMs = 5): { stop(): TimeSplit | null } {
  const first = schedstat(pid);
  const t0 = performance.now();
  let last = first;
  let t1 = t0;
  const timer = setInterval(() => {
    const s = schedstat(pid);
    if (s) { last = s; t1 = performance.now(); }
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      const s = schedstat(pid);
      if (s) { last = s; t1 = performance.now(); }
      if (!first || !last) return null;
      const cpuMs = last[0] - first[0];
      const runQueueMs = last[1] - first[1];
      const wallMs = t1 - t0;
      return { wallMs, cpuMs, runQueueMs, asleepMs: Math.max(0, wallMs - cpuMs - runQueueMs) };
    },
  };
}

export const formatSplit = (s: TimeSplit | null) => (s ? `cpu ${Math.round(s.cpuMs)}, run queue ${Math.round(s.runQueueMs)}, asleep ${Math.round(s.asleepMs)} of ${Math.round(s.wallMs)} ms` : "n/a");
