/** Delimited-text (CSV/TSV) reader of the ingestion service; see read-csv.ts. */
export { readCsv, inferCsv, CSV_BATCH_ROWS } from "./read-csv.ts";
export type { CsvInference } from "./read-csv.ts";
export { looksLikeDelimitedText } from "./detect.ts";
export type { Dialect } from "./parser.ts";
