import { readFileSync, writeFileSync } from "node:fs";

/** Resident memory of one process from /proc, in MiB (null once it is gone). */
function statusField(pid: number, field: "VmRSS" | "VmHWM"): number | null {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

export interface PeakRss {
  /** Largest VmRSS seen by polling every 100 ms. */
  polledMb: number;
  /** VmHWM after it was reset at the start of the phase (the kernel's own peak). */
  hwmMb: number;
}

/**
 * Peak resident memory of named processes over one phase: resets each
 * process's high-water mark (`echo 5 > /proc/<pid>/clear_refs`, allowed on our
 * own children) and polls VmRSS every 100 ms as a second opinion.
 */
export function watchRss(pids: Record<string, number>): { stop(): Record<string, PeakRss> } {
  const peaks: Record<string, number> = {};
  for (const [name, pid] of Object.entries(pids)) {
    try { writeFileSync(`/proc/${pid}/clear_refs`, "5"); } catch { /* older kernels: HWM is then the lifetime peak */ }
    peaks[name] = statusField(pid, "VmRSS") ?? 0;
  }
  const poll = () => {
    for (const [name, pid] of Object.entries(pids)) peaks[name] = Math.max(peaks[name]!, statusField(pid, "VmRSS") ?? 0);
  };
  const timer = setInterval(poll, 100);
  return {
    stop() {
      clearInterval(timer);
      poll();
      const out: Record<string, PeakRss> = {};
      for (const [name, pid] of Object.entries(pids)) {
        const polledMb = peaks[name]!;
        out[name] = { polledMb, hwmMb: Math.max(statusField(pid, "VmHWM") ?? 0, polledMb) };
      }
      return out;
    },
  };
}

/** This process's own kernel peak (used by the DuckDB child to report itself). */
export const ownHwmMb = (): number => statusField(process.pid, "VmHWM") ?? 0;

/** CPU seconds (user + system) a process has used so far, from /proc (clock ticks of 10 ms); null once it is gone. */
export function cpuSeconds(pid: number): number | null {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return null;
  }
}
