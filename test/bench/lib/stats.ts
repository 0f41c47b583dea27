/** Value at quantile q (0..1) of a sample, nearest-rank. */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export const median = (values: number[]): number => {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** Runs fn once per iteration after a warm-up, returns each call's time in ms. */
export async function latencies(fn: () => Promise<unknown>, n: number, warmup: number): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out;
}

/** Completed calls per second with `concurrency` callers looping for `seconds`. */
export async function throughput(fn: () => Promise<unknown>, concurrency: number, seconds: number): Promise<number> {
  const warmEnd = performance.now() + 300;
  const end = warmEnd + seconds * 1000;
  let done = 0;
  const worker = async () => {
    while (performance.now() < warmEnd) await fn();
    while (performance.now() < end) {
      await fn();
      done++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - warmEnd) / 1000;
  return done / elapsed;
}
