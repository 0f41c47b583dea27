import { duckdb } from "../lib/child.ts";
import { mixedParquet, sizeMb } from "../lib/gen-data.ts";
import { uploadFile } from "../lib/upload.ts";
import { atLeast, type Ctx, type Scenario } from "../lib/scenario.ts";

interface State { file: string; mb: number }

const mbOf = (ctx: Ctx) => Number(process.env.BENCH_CSV_MB ?? (ctx.opts.quick ? 20 : 100));

/** The CSV scenario's data as Parquet (DuckDB-written, Snappy) vs DuckDB read_parquet on one thread. */
export const parquetIngest: Scenario<State> = {
  name: "parquet-ingest",
  describe: "the same data as Parquet: upload to a typed dataset vs DuckDB read_parquet (1 thread)",
  async setup(ctx) {
    const file = await mixedParquet(ctx.opts.dataDir, mbOf(ctx));
    return { file, mb: sizeMb(file) };
  },
  async round(ctx, s) {
    const up = await uploadFile(ctx, s.file);
    const duck = await duckdb("parquet", s.file);
    if (duck.rows !== up.rows) ctx.log(`  ⚠ row counts differ: system ${up.rows}, DuckDB ${duck.rows}`);
    return {
      "gw.mb_s": s.mb / up.seconds, "duck.mb_s": s.mb / (duck.ms / 1000), "gw.rows_s": up.rows / up.seconds, "duck.rows_s": duck.rows / (duck.ms / 1000),
      "cpu": up.cpuSeconds, "duck.cpu": duck.cpuMs / 1000,
      "rss.gateway": up.peaks.gateway!.hwmMb, "rss.ingestion": up.peaks.ingestion!.hwmMb, "duck.rss": duck.hwmMb,
    };
  },
  rows: () => [
    { label: "Parquet ingest (MB of Parquet)", unit: "MB/s", system: "gw.mb_s", baseline: "duck.mb_s", baselineName: "DuckDB 1 thread", target: atLeast(0.6) },
    { label: "Parquet ingest (rows)", unit: "rows/s", system: "gw.rows_s", baseline: "duck.rows_s", baselineName: "DuckDB 1 thread" },
    // CPU from /proc: a loaded machine stretches wall times of four processes more than DuckDB's one
    { label: "Parquet ingest: CPU (gateway+ingestion)", unit: "s", system: "cpu", baseline: "duck.cpu", baselineName: "DuckDB CPU" },
    { label: "Parquet ingest: gateway peak RSS", unit: "MiB", system: "rss.gateway" },
    { label: "Parquet ingest: ingestion peak RSS", unit: "MiB", system: "rss.ingestion", baseline: "duck.rss", baselineName: "DuckDB process" },
  ],
};
