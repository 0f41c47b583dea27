import { duckdb } from "../lib/child.ts";
import { messyCsv, mixedCsv, sizeMb } from "../lib/gen-data.ts";
import { uploadFile } from "../lib/upload.ts";
import { atLeast, timeWithin, type Ctx, type Round, type Scenario } from "../lib/scenario.ts";

interface State { file: string; mb: number; messy: string; messyMb: number }

const mbOf = (ctx: Ctx) => Number(process.env.BENCH_CSV_MB ?? (ctx.opts.quick ? 20 : 100));
// 1 GB (10^9 bytes): 1 GiB would be just over the default MAX_UPLOAD_BYTES once the generator overshoots.
const bigMbOf = () => Number(process.env.BENCH_BIG_CSV_MB ?? 950);

/** One upload next to DuckDB on the same file: MB/s and peak RSS, as `<key>.*` figures. */
async function side(ctx: Ctx, key: string, file: string, mb: number, duckMode: "csv" | "csv-quoted"): Promise<Round> {
  const up = await uploadFile(ctx, file);
  const duck = await duckdb(duckMode, file);
  if (duck.rows !== up.rows) ctx.note(`${key}: row counts differ: system ${up.rows}, DuckDB ${duck.rows}`);
  return {
    [`${key}.gw.mb_s`]: mb / up.seconds, [`${key}.duck.mb_s`]: mb / (duck.ms / 1000),
    [`${key}.rss.gateway`]: up.peaks.gateway!.hwmMb, [`${key}.rss.ingestion`]: up.peaks.ingestion!.hwmMb,
    [`${key}.rss.sum`]: up.peaks.gateway!.hwmMb + up.peaks.ingestion!.hwmMb, [`${key}.duck.rss`]: duck.hwmMb,
    [`${key}.cpu`]: up.cpuSeconds, [`${key}.duck.cpu`]: duck.cpuMs / 1000,
  };
}

/**
 * A ~100 MB mixed CSV, and a messy one (quoted delimiters, doubled quotes, quoted newlines,
 * empty fields, a late first quote), uploaded to a typed dataset vs DuckDB read_csv_auto on one thread.
 */
export const csvIngest: Scenario<State> = {
  name: "csv-ingest",
  describe: "mixed-type CSV upload to a typed dataset vs DuckDB read_csv_auto (1 thread)",
  async setup(ctx) {
    const file = await mixedCsv(ctx.opts.dataDir, mbOf(ctx));
    const messy = await messyCsv(ctx.opts.dataDir, mbOf(ctx));
    return { file, mb: sizeMb(file), messy, messyMb: sizeMb(messy) };
  },
  async round(ctx, s) {
    return { ...await side(ctx, "plain", s.file, s.mb, "csv"), ...await side(ctx, "messy", s.messy, s.messyMb, "csv-quoted") };
  },
  async extra(ctx): Promise<Round> {
    if (!ctx.opts.big) return {};
    const mb = bigMbOf();
    ctx.log(`  --big: ${mb} MiB CSV (generated once into ${ctx.opts.dataDir})`);
    const file = await mixedCsv(ctx.opts.dataDir, mb);
    const up = await uploadFile(ctx, file);
    return { "big.mb_s": sizeMb(file) / up.seconds, "big.rss.gateway": up.peaks.gateway!.hwmMb, "big.rss.ingestion": up.peaks.ingestion!.hwmMb };
  },
  rows: (o) => [
    ...(["plain", "messy"] as const).flatMap((k) => [
      { label: `CSV ingest (${k})`, unit: "MB/s", system: `${k}.gw.mb_s`, baseline: `${k}.duck.mb_s`, baselineName: "DuckDB 1 thread", target: atLeast(0.5) },
      { label: `CSV ingest (${k}) peak RSS (gateway+ingestion)`, unit: "MiB", system: `${k}.rss.sum`, baseline: `${k}.duck.rss`, baselineName: "DuckDB process", target: timeWithin(0.8) },
      { label: `CSV ingest (${k}): gateway peak RSS`, unit: "MiB", system: `${k}.rss.gateway` },
      { label: `CSV ingest (${k}): ingestion peak RSS`, unit: "MiB", system: `${k}.rss.ingestion` },
      { label: `CSV ingest (${k}): CPU (gateway+ingestion)`, unit: "s", system: `${k}.cpu`, baseline: `${k}.duck.cpu`, baselineName: "DuckDB CPU" },
    ]),
    ...(o.big ? [
      { label: "1 GB CSV ingest", unit: "MB/s", system: "big.mb_s" },
      { label: "1 GB CSV: gateway peak RSS", unit: "MiB", system: "big.rss.gateway" },
      { label: "1 GB CSV: ingestion peak RSS", unit: "MiB", system: "big.rss.ingestion" },
    ] : []),
  ],
};
