/**
 * Delimited-text (CSV/TSV/`;`/`|`) reader of the ingestion service.
 *
 * - `readCsv` streams the file twice: pass 1 sniffs the encoding and dialect
 *   (samples at the start, 25/50/75 % and the end) and classifies every value
 *   of the whole file; `rows()` re-reads it and yields converted batches.
 * - Dates that are ambiguous in every row (both parts ≤ 12) are read MM/DD/YYYY.
 * - A column mixing zoned and naive timestamps, or different date layouts, is a string column.
 * - Blank lines are skipped (so a one-column file cannot express a null as an empty line);
 *   up to 20 one-field title/comment lines above the header are skipped.
 * - Null markers in every column: empty, NULL, null, NA, N/A, n/a, None.
 */
export { readCsv, readCsvDataset, readCsvStream, inferCsv, CSV_BATCH_ROWS, GUESS_BYTES } from "./read-csv.ts";
export type { CsvStream } from "./read-csv.ts";
export type { CsvInference } from "./read-csv.ts";
export { looksLikeDelimitedText } from "./detect.ts";
export type { Dialect } from "./parser.ts";
