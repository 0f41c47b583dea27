import { timeCommand } from "../lib/child.ts";
import { drainer } from "../lib/drain-child.ts";
import { watchRss } from "../lib/rss.ts";
import { atLeast, rssFigures, under, type Ctx, type Scenario } from "../lib/scenario.ts";
import { connectSource, createExportTable, scratchDb } from "../lib/source-db.ts";

interface State {
  db: Awaited<ReturnType<typeof scratchDb>>;
  sourceId: string;
  rows: number;
  bigRows: number;
  /** The HTTP client, a process of its own as psql is for the baseline (drain-child.ts says why). */
  client: Awaited<ReturnType<typeof drainer>>;
}

const rowsOf = (ctx: Ctx) => Number(process.env.BENCH_EXPORT_ROWS ?? (ctx.opts.quick ? 200_000 : 1_000_000));
const bigRowsOf = (ctx: Ctx) => Number(process.env.BENCH_EXPORT_BIG_ROWS ?? (ctx.opts.quick ? 400_000 : 2_000_000));
const sqlFor = (n: number) => `select * from export_t limit ${n}`;

/** The default 30 s is a whole-query timeout: a 2M-row NDJSON export on a loaded machine takes longer. */
const EXPORT_TIMEOUT_MS = 600_000;

type Format = "csv" | "ndjson";
const ACCEPT: Record<Format, string> = { csv: "text/csv", ndjson: "application/x-ndjson" };

/** One streamed export through the gateway; rows/s and the peak RSS of gateway and connector. */
async function viaGateway(ctx: Ctx, s: State, n: number, format: Format = "csv") {
  const rss = watchRss({ gateway: ctx.cluster.pids.gateway, connector: ctx.cluster.pids.connector });
  const t0 = performance.now();
  const r = await s.client.drain(ctx.cluster.url, ctx.token, `/api/data/sources/${s.sourceId}/query`, { sql: sqlFor(n), timeout_ms: EXPORT_TIMEOUT_MS }, ACCEPT[format]);
  const secs = (performance.now() - t0) / 1000;
  const peaks = rss.stop();
  // CSV has a header line, NDJSON one line per row.
  if (r.status !== 200 || r.lines !== n + (format === "csv" ? 1 : 0)) throw new Error(`${format} export through the gateway: status ${r.status}, ${r.lines} lines for ${n} rows: ${r.head.slice(0, 300)}`);
  return { rowsPerSec: n / secs, mbPerSec: r.bytes / 2 ** 20 / secs, peaks };
}

/** 1M rows × 8 mixed columns as CSV: gateway vs `psql \copy ... to stdout csv`. */
export const exportCsv: Scenario<State> = {
  name: "export",
  describe: "rows × 8 mixed columns as CSV through the gateway vs psql \\copy",
  async setup(ctx) {
    const rows = rowsOf(ctx);
    const bigRows = bigRowsOf(ctx);
    const db = await scratchDb("dsb_bench_export");
    ctx.log(`  creating export_t with ${Math.max(rows, bigRows).toLocaleString("en-US")} rows`);
    await createExportTable(db.client, Math.max(rows, bigRows));
    const sourceId = await connectSource(ctx, db.name, "bench export");
    return { db, sourceId, rows, bigRows, client: await drainer() };
  },
  async round(ctx, s) {
    const gw = await viaGateway(ctx, s, s.rows);
    const ms = await timeCommand("psql", ["-X", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", s.db.name, "-c", `\\copy (${sqlFor(s.rows)}) to stdout csv`]);
    return { "gw.rows_s": gw.rowsPerSec, "gw.mb_s": gw.mbPerSec, "psql.rows_s": s.rows / (ms / 1000), ...rssFigures("rss", gw.peaks) };
  },
  async extra(ctx, s) {
    ctx.log(`  ${s.bigRows.toLocaleString("en-US")}-row export for peak memory`);
    const gw = await viaGateway(ctx, s, s.bigRows);
    ctx.log(`  ${s.bigRows.toLocaleString("en-US")}-row NDJSON export for peak memory`);
    const nd = await viaGateway(ctx, s, s.bigRows, "ndjson");
    return { "big.rows_s": gw.rowsPerSec, ...rssFigures("big.rss", gw.peaks), "big.nd.rows_s": nd.rowsPerSec, ...rssFigures("big.nd.rss", nd.peaks) };
  },
  async teardown(_ctx, s) {
    s.client.stop();
  },
  rows: (o) => {
    const n = (o.quick ? "small" : "1M");
    const big = o.quick ? "big" : "2M";
    return [
      { label: `export ${n} rows CSV`, unit: "rows/s", system: "gw.rows_s", baseline: "psql.rows_s", baselineName: "psql \\copy", target: atLeast(0.8) },
      { label: `export ${n}: gateway peak RSS`, unit: "MiB", system: "rss.gateway" },
      { label: `export ${n}: connector peak RSS`, unit: "MiB", system: "rss.connector" },
      { label: `export ${big} rows CSV`, unit: "rows/s", system: "big.rows_s" },
      { label: `export ${big}: gateway peak RSS`, unit: "MiB", system: "big.rss.gateway", target: under(150, "MiB") },
      { label: `export ${big}: connector peak RSS`, unit: "MiB", system: "big.rss.connector", target: under(150, "MiB") },
      { label: `export ${big} rows NDJSON`, unit: "rows/s", system: "big.nd.rows_s" },
      { label: `export ${big} NDJSON: gateway peak RSS`, unit: "MiB", system: "big.nd.rss.gateway", target: under(200, "MiB") },
      { label: `export ${big} NDJSON: connector peak RSS`, unit: "MiB", system: "big.nd.rss.connector" },
    ];
  },
};
