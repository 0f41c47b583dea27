import { send } from "./api.ts";
import { uuid } from "./uuid.ts";
import type { QueryBody } from "./types.ts";

export const EXPORT_FORMATS = { csv: "text/csv", ndjson: "application/x-ndjson" } as const;
export type ExportFormat = keyof typeof EXPORT_FORMATS;

// The File System Access API is not in TypeScript's DOM library yet.
interface SaveHandle { createWritable(): Promise<WritableStream<Uint8Array>> }
type SavePicker = (o: { suggestedName: string; types?: { description: string; accept: Record<string, string[]> }[] }) => Promise<SaveHandle>;

/**
 * Streams a whole result (no row cap) to a file. Where the browser can write to a file as bytes
 * arrive (Chromium's save picker) nothing is held in memory; elsewhere the chunks gather in a
 * Blob (which browsers page to disk) and download when complete.
 */
export async function exportResult(sourceId: string, body: QueryBody, format: ExportFormat, onBytes: (n: number) => void, signal: AbortSignal): Promise<"saved" | "skipped"> {
  const name = `query-${new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19)}.${format}`;
  const picker = (window as unknown as { showSaveFilePicker?: SavePicker }).showSaveFilePicker;
  let sink: WritableStream<Uint8Array> | null = null;
  if (picker) {
    try {
      sink = await (await picker({ suggestedName: name, types: [{ description: format.toUpperCase(), accept: { [EXPORT_FORMATS[format]]: [`.${format}`] } }] })).createWritable();
    } catch (e) {
      if ((e as Error).name === "AbortError") return "skipped";
      sink = null;
    }
  }
  // The whole result: the JSON view's row limit does not apply (a query_config's own limit does).
  const { query_id: _old, limit: _cap, ...rest } = body;
  const res = await send(`/api/data/sources/${encodeURIComponent(sourceId)}/query?format=${format}`, {
    method: "POST", json: { ...rest, query_id: uuid() }, headers: { accept: EXPORT_FORMATS[format] }, signal,
  });
  let n = 0;
  const counter = new TransformStream<Uint8Array, Uint8Array>({ transform(chunk, ctrl) { n += chunk.byteLength; onBytes(n); ctrl.enqueue(chunk); } });
  const counted = res.body!.pipeThrough(counter);
  if (sink) {
    await counted.pipeTo(sink, { signal });
    return "saved";
  }
  const blob = await new Response(counted).blob();
  const url = URL.createObjectURL(new Blob([blob], { type: EXPORT_FORMATS[format] }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return "saved";
}
