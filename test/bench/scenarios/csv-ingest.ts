import { duckdb } from "../lib/child.ts";
import { mixedCsv, sizeMb } from "../lib/gen-data.ts";
import { uploadFile } from "../lib/upload.ts";
import { atLeast, below, type Ctx, type Round, type Scenario } from "../lib/scenario.ts";

interface State { file: string; mb: number }

const mbOf = (ctx: Ctx) => Number(process.env.BENCH_CSV_MB ?? (ctx.opts.quick ? 20 : 100));
// 1 GB (10^9 bytes): 1 GiB would be just over the default MAX_UPLOAD_BYTES once the generator overshoots.
const bigMbOf = () => Number(process.env.BENCH_BIG_CSV_MB ?? 950);

/** A ~100 MB mixed CSV uploaded to a typed dataset vs DuckDB read_csv_auto on one thread. */
export const csvIngest: Scenario<State> = {
  name: "csv-ingest",
  describe: "mixed-type CSV upload to a typed dataset vs DuckDB read_csv_auto (1 thread)",
  async setup(ctx) {
    const file = await mixedCsv(ctx.opts.dataDir, mbOf(ctx));
    return { file, mb: sizeMb(file) };
  },
  async round(ctx, s) {
    const up = await uploadFile(ctx, s.file);
    const duck = await duckdb("csv", s.file);
    if (duck.rows !== up.rows) ctx.log(`  ⚠ row counts differ: system ${up.rows}, DuckDB ${duck.rows}`);
    return {
      "gw.mb_s": s.mb / up.seconds, "duck.mb_s": s.mb / (duck.ms / 1000),
      "rss.gateway": up.peaks.gateway!.hwmMb, "rss.ingestion": up.peaks.ingestion!.hwmMb,
      "rss.sum": up.peaks.gateway!.hwmMb + up.peaks.ingestion!.hwmMb, "duck.rss": duck.hwmMb,
    };
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
    { label: "CSV ingest", unit: "MB/s", system: "gw.mb_s", baseline: "duck.mb_s", baselineName: "DuckDB 1 thread", target: atLeast(1 / 3, "≥ 1/3×") },
    { label: "CSV ingest peak RSS (gateway+ingestion)", unit: "MiB", system: "rss.sum", baseline: "duck.rss", baselineName: "DuckDB process", target: below() },
    { label: "CSV ingest: gateway peak RSS", unit: "MiB", system: "rss.gateway" },
    { label: "CSV ingest: ingestion peak RSS", unit: "MiB", system: "rss.ingestion" },
    ...(o.big ? [
      { label: "1 GB CSV ingest", unit: "MB/s", system: "big.mb_s" },
      { label: "1 GB CSV: gateway peak RSS", unit: "MiB", system: "big.rss.gateway" },
      { label: "1 GB CSV: ingestion peak RSS", unit: "MiB", system: "big.rss.ingestion" },
    ] : []),
  ],
};
