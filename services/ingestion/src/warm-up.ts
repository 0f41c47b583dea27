import { lz4Native } from "./dataset/lz4.ts";

/**
 * Start-up work the first upload would otherwise pay, done before the service says it is ready:
 * loading the LZ4 binary (every dataset is written through it) and the Parquet reader's modules
 * (hyparquet; the other readers stay loaded on first use). Together 30-50 ms of the first
 * Parquet upload on a busy machine.
 */
export async function warmUp(): Promise<void> {
  lz4Native();
  await import("./formats/parquet/index.ts");
}
