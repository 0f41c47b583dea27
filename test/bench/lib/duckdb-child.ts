/**
 * The DuckDB baseline in its own process, so its peak memory is its own:
 * `node --import tsx duckdb-child.ts <csv|csv-quoted|parquet|to-parquet> <file> [out]`.
 * csv-quoted names the quote and escape: on a file whose first quote comes after DuckDB's
 * sniffing sample, read_csv_auto picks "no quote" and fails at the first quoted delimiter.
 * Prints one JSON line {ms, cpuMs, rows, hwmMb} (ms and cpuMs: the load statement only).
 */
import { DuckDBInstance } from "@duckdb/node-api";
import { ownHwmMb } from "./rss.ts";

const [mode, file, out] = process.argv.slice(2);
const q = (s: string) => `'${s!.replaceAll("'", "''")}'`;
const instance = await DuckDBInstance.create(":memory:", { threads: "1" });
const conn = await instance.connect();
let sql: string;
if (mode === "csv") sql = `create table t as select * from read_csv_auto(${q(file!)})`;
else if (mode === "csv-quoted") sql = `create table t as select * from read_csv_auto(${q(file!)}, quote = '"', escape = '"')`;
else if (mode === "parquet") sql = `create table t as select * from read_parquet(${q(file!)})`;
else if (mode === "to-parquet") sql = `copy (select * from read_csv_auto(${q(file!)})) to ${q(out!)} (format parquet)`;
else throw new Error(`unknown mode ${mode}`);
const t0 = performance.now();
const cpu0 = process.cpuUsage();
await conn.run(sql);
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
const rows = mode === "to-parquet" ? 0 : Number((await conn.runAndReadAll("select count(*) from t")).getRows()[0]![0]);
console.log(JSON.stringify({ ms, cpuMs: (cpu.user + cpu.system) / 1000, rows, hwmMb: ownHwmMb() }));
conn.closeSync();
