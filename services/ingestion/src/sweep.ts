import type { Bus } from "@dsb/bus";
import type { Logger } from "@dsb/runtime";
import type { BlobStore } from "@dsb/storage";

/** Keys per catalog.files.referenced request (its schema allows 1000). */
const BATCH = 500;
const DATASET_MARK = ".dataset/";

/** The upload an object belongs to: the object itself, or the upload whose dataset it is part of. */
export function uploadKeyOf(objectKey: string): string {
  const i = objectKey.indexOf(DATASET_MARK);
  return i >= 0 ? objectKey.slice(0, i) : objectKey;
}

export interface SweepOptions {
  store: BlobStore;
  bus: Bus;
  log: Logger;
  /** Uploads younger than this are left alone: their parse or their catalog row may still be on the way. */
  graceMs: number;
  /** Uploads this replica is parsing right now (never swept, whatever their age). */
  busy?: ReadonlySet<string>;
  now?: () => number;
}

/**
 * One pass of the stale-upload sweep. An upload (with its dataset) that no active source
 * references and that is older than the grace period is left over from a failure the normal
 * clean-up could not handle: a gateway or ingestion replica killed between storing the file and
 * the catalog storing its source, or a source deleted since. Several replicas may sweep at once:
 * each asks the catalog before deleting, and deleting what is already gone is not an error.
 * If the catalog cannot be asked, nothing is deleted.
 */
export async function sweepStaleUploads(opts: SweepOptions): Promise<{ checked: number; removed: string[] }> {
  const { store, bus, log, graceMs } = opts;
  const cutoff = (opts.now ?? Date.now)() - graceMs;
  const uploads = new Map<string, { newest: number; objects: string[] }>();
  for await (const o of store.list("")) {
    const key = uploadKeyOf(o.key);
    const u = uploads.get(key) ?? { newest: 0, objects: [] };
    u.newest = Math.max(u.newest, o.modified.getTime());
    u.objects.push(o.key);
    uploads.set(key, u);
  }
  // Only gateway-made keys (`tenant/…`); the newest object of an upload decides its age.
  const stale = [...uploads].filter(([key, u]) => key.includes("/") && u.newest < cutoff && !opts.busy?.has(key)).map(([key]) => key);
  const removed: string[] = [];
  for (let i = 0; i < stale.length; i += BATCH) {
    const batch = stale.slice(i, i + BATCH);
    const { referenced } = await bus.request("catalog.files.referenced", { keys: batch });
    const keep = new Set(referenced);
    for (const key of batch) {
      if (keep.has(key)) continue;
      // Dataset first, the upload last: a pass cut short leaves an upload that the next pass finds again.
      const objects = uploads.get(key)!.objects.sort((a, b) => (a === key ? 1 : b === key ? -1 : a.localeCompare(b)));
      for (const o of objects) await store.delete(o).catch((e: unknown) => log.warn({ err: e, key: o }, "⚠️ sweep could not delete an object"));
      removed.push(key);
      log.info({ key, objects: objects.length }, "🧹 stale upload removed (no active source references it)");
    }
  }
  return { checked: stale.length, removed };
}

/**
 * Runs the sweep every `intervalMs`, jittered ±50 % so replicas started together spread out.
 * A failed pass is logged and retried at the next tick.
 */
export function startSweeper(opts: SweepOptions & { intervalMs: number }): { stop(): Promise<void> } {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = sweepStaleUploads(opts)
        .catch((err: unknown) => opts.log.warn({ err }, "⚠️ stale-upload sweep failed; retrying at the next interval"))
        .finally(schedule);
    }, opts.intervalMs * (0.5 + Math.random()));
    timer.unref();
  };
  schedule();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
