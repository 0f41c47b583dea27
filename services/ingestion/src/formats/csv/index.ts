/**
 * Delimited-text (CSV/TSV/`;`/`|`) reader of the ingestion service.
 *
 * - `readCsvStream` (production: an upload as it arrives) and `readCsvDataset`
 *   (a local file) sniff the encoding and dialect (samples at the start,
 *   25/50/75 % and the end), classify every value of the whole file and, in the
 *   same pass, convert it with types guessed from the first GUESS_BYTES; a file
 *   that contradicts the guess, or a small one, is read the exact two-pass way
 *   (inferCsv, then conversion). One byte parser (byte-parser.ts) and one
 *   inference (infer.ts) serve every path, the sniffer included.
 * - Dates that are ambiguous in every row (both parts ≤ 12) are read MM/DD/YYYY.
 * - A column mixing zoned and naive timestamps, or different date layouts, is a string column.
 * - Blank lines are skipped (so a one-column file cannot express a null as an empty line);
 *   up to 20 one-field title/comment lines above the header are skipped.
 * - Null markers in every column: empty, NULL, null, NA, N/A, n/a, None.
 */
export { readCsvDataset, readCsvStream, inferCsv, CSV_BATCH_ROWS, GUESS_BYTES } from "./read-csv.ts";
export type { CsvStream } from "./read-csv.ts";
export type { CsvInference } from "./read-csv.ts";
export { looksLikeDelimitedText } from "./detect.ts";
export type { Dialect } from "./byte-parser.ts";
