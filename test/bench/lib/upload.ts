import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { request } from "node:http";
import { basename } from "node:path";
import { pipeline } from "node:stream/promises";
import { cpuSeconds, watchRss, type PeakRss } from "./rss.ts";
import type { Ctx } from "./scenario.ts";
import { call } from "./http.ts";

export interface UploadResult {
  seconds: number;
  rows: number;
  peaks: Record<string, PeakRss>;
  /** CPU seconds gateway and ingestion spent during the upload (comparable on a busy machine, unlike `seconds`). */
  cpuSeconds: number;
}

/**
 * POSTs a multipart upload with node:http, the file piped from disk between a
 * hand-written preamble and epilogue: the client shares the two cores with the
 * system under test, and fetch + FormData cost it most of a core per 100 MB.
 */
function postMultipart(url: string, token: string, file: string, name: string): Promise<{ status: number; text: string }> {
  return stat(file).then(({ size }) => new Promise((ok, fail) => {
    const boundary = `----dsb-bench-${Date.now().toString(36)}`;
    const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\n${name}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${basename(file)}"\r\nContent-Type: application/octet-stream\r\n\r\n`);
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const req = request(`${url}/api/data/upload`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": `multipart/form-data; boundary=${boundary}`, "content-length": head.length + size + tail.length },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => ok({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      res.on("error", fail);
    });
    req.on("error", fail);
    req.write(head);
    pipeline(createReadStream(file, { highWaterMark: 256 * 1024 }), req, { end: false })
      .then(() => req.end(tail), (e: unknown) => { req.destroy(); fail(e); });
  }));
}

/**
 * Uploads a file through the gateway (multipart streamed from disk), watching
 * gateway and ingestion memory; deletes the source afterwards so storage does
 * not fill up over rounds.
 */
export async function uploadFile(ctx: Ctx, file: string): Promise<UploadResult> {
  const pids = [ctx.cluster.pids.gateway, ctx.cluster.pids.ingestion];
  const cpu = () => pids.reduce((sum, pid) => sum + (cpuSeconds(pid) ?? 0), 0);
  const rss = watchRss({ gateway: ctx.cluster.pids.gateway, ingestion: ctx.cluster.pids.ingestion });
  const cpu0 = cpu();
  const t0 = performance.now();
  const res = await postMultipart(ctx.cluster.url, ctx.token, file, `bench ${basename(file)}`);
  const text = res.text;
  const seconds = (performance.now() - t0) / 1000;
  const cpuUsed = cpu() - cpu0;
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
  return { seconds, rows: table.rowCount ?? 0, peaks, cpuSeconds: cpuUsed };
}
const uploadTypesLogged = new Set<string>();

