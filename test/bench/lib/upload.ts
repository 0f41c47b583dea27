import { openAsBlob } from "node:fs";
import { basename } from "node:path";
import { watchRss, type PeakRss } from "./rss.ts";
import type { Ctx } from "./scenario.ts";
import { call } from "./http.ts";

export interface UploadResult {
  seconds: number;
  rows: number;
  peaks: Record<string, PeakRss>;
}

/**
 * Uploads a file through the gateway (multipart streamed from disk), watching
 * gateway and ingestion memory; deletes the source afterwards so storage does
 * not fill up over rounds.
 */
export async function uploadFile(ctx: Ctx, file: string): Promise<UploadResult> {
  const form = new FormData();
  form.set("file", await openAsBlob(file), basename(file));
  form.set("name", `bench ${basename(file)}`);
  const rss = watchRss({ gateway: ctx.cluster.pids.gateway, ingestion: ctx.cluster.pids.ingestion });
  const t0 = performance.now();
  const res = await fetch(`${ctx.cluster.url}/api/data/upload`, { method: "POST", body: form, headers: { authorization: `Bearer ${ctx.token}` } });
  const text = await res.text();
  const seconds = (performance.now() - t0) / 1000;
  const peaks = rss.stop();
  if (res.status !== 201) throw new Error(`upload of ${basename(file)}: ${res.status} ${text.slice(0, 500)}`);
  const ds = (JSON.parse(text) as { data_source: { id: string; schema: { tables: { rowCount: number | null; columns: { name: string; type: string }[] }[] } } }).data_source;
  const table = ds.schema.tables[0]!;
  const del = await call(ctx.cluster.url, ctx.token, "DELETE", `/api/data/sources/${ds.id}`);
  if (del.status !== 200) ctx.log(`  ⚠ could not delete uploaded source ${ds.id}: ${del.status}`);
  if (!uploadTypesLogged.has(file)) {
    uploadTypesLogged.add(file);
    ctx.log(`  inferred: ${table.columns.map((c) => `${c.name}:${c.type}`).join(", ")}`);
  }
  return { seconds, rows: table.rowCount ?? 0, peaks };
}
const uploadTypesLogged = new Set<string>();
