import type { Cluster } from "./setup.ts";
import type { PeakRss } from "./rss.ts";

export interface Options {
  rounds: number;
  quick: boolean;
  big: boolean;
  only: string[];
  dataDir: string;
}

export interface Ctx {
  cluster: Cluster;
  token: string;
  opts: Options;
  log(msg: string): void;
  /** A remark printed under the table and kept in the JSON (a crash, a skipped measurement). */
  note(msg: string): void;
}

/**
 * Waits for a gateway call but gives up as soon as a service process dies
 * (a crashed service would otherwise leave the gateway waiting for its bus timeout).
 */
export async function unlessCrash<T>(ctx: Ctx, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const crash = new Promise<never>((_, fail) => {
    timer = setInterval(() => {
      const dead = ctx.cluster.dead();
      if (dead.length) {
        ac.abort();
        fail(new Error(`${dead.join(", ")} crashed during the request`));
      }
    }, 100);
  });
  try {
    return await Promise.race([run(ac.signal), crash]);
  } finally {
    clearInterval(timer);
  }
}

/** One measured round: named numbers (ms, per-second rates, MiB). */
export type Round = Record<string, number>;

/** A pass/fail rule comparing a system figure with its baseline. */
export interface Target {
  /** How it reads in the table, e.g. "≥ 0.4×". */
  text: string;
  /** The figure shown in the ratio column. */
  ratio(system: number, baseline: number): number;
  pass(ratio: number): boolean;
}

/** One line of the table: a system figure next to a baseline figure (keys into the rounds' medians). */
export interface Row {
  label: string;
  unit: string;
  system: string;
  baseline?: string;
  baselineName?: string;
  target?: Target;
}

export interface Scenario<S = unknown> {
  name: string;
  describe: string;
  setup(ctx: Ctx): Promise<S>;
  round(ctx: Ctx, state: S, index: number): Promise<Round>;
  /** One-off runs after the rounds (2M-row export, 1 GB CSV): their figures join the medians. */
  extra?(ctx: Ctx, state: S): Promise<Round>;
  teardown?(ctx: Ctx, state: S): Promise<void>;
  rows(opts: Options): Row[];
}

export const atLeast = (x: number, label = `≥ ${x}×`): Target => ({ text: label, ratio: (s, b) => s / b, pass: (r) => r >= x });
/** system time over baseline time must stay under x. */
export const timeWithin = (x: number): Target => ({ text: `≤ ${x}×`, ratio: (s, b) => s / b, pass: (r) => r <= x });
/** baseline time over system time (how many times faster the system is). */
export const fasterBy = (x: number): Target => ({ text: `≥ ${x}× faster`, ratio: (s, b) => b / s, pass: (r) => r >= x });
/** system minus baseline (ms) must stay under x. */
export const plusAtMost = (x: number): Target => ({ text: `≤ +${x} ms`, ratio: (s, b) => s - b, pass: (r) => r <= x });
export const below = (): Target => ({ text: "< baseline", ratio: (s, b) => s / b, pass: (r) => r < 1 });

/** Flattens a peak-RSS report into round figures named rss.<process>. */
export function rssFigures(prefix: string, peaks: Record<string, PeakRss>): Round {
  const out: Round = {};
  for (const [name, p] of Object.entries(peaks)) out[`${prefix}.${name}`] = p.hwmMb;
  return out;
}
/** An absolute ceiling with no baseline (the "ratio" column shows the figure itself). */
export const under = (x: number, unit: string): Target => ({ text: `< ${x} ${unit}`, ratio: (s) => s, pass: (r) => r < x });
