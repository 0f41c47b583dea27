export { csvHeader, csvLines, distinctNames, ndjsonLines } from "@dsb/contracts";

export const EXPORT_FORMATS = ["json", "csv", "ndjson"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export const CONTENT_TYPES: Record<Exclude<ExportFormat, "json">, string> = {
  csv: "text/csv; charset=utf-8",
  ndjson: "application/x-ndjson",
};

/** `?format=` wins, then the Accept header; JSON otherwise. */
export function pickFormat(formatParam: string | undefined, accept: string | undefined): ExportFormat {
  if (formatParam === "csv" || formatParam === "ndjson" || formatParam === "json") return formatParam;
  const a = (accept ?? "").toLowerCase();
  if (a.includes("text/csv")) return "csv";
  if (a.includes("application/x-ndjson") || a.includes("application/ndjson")) return "ndjson";
  return "json";
}
