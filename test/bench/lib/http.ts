import { Agent, request } from "node:http";
import { gunzipSync } from "node:zlib";

/** Keep-alive sockets for the load generator (node:http: less client CPU than fetch). */
export const agent = new Agent({ keepAlive: true, maxSockets: 64 });

export interface Reply {
  status: number;
  body: Buffer;
}

/**
 * One request; the whole body buffered (small replies). `gzip`: sends `Accept-Encoding: gzip` as
 * browsers and fetch do, and decodes a gzip body before resolving (its time counts in the caller's).
 */
export function call(url: string, token: string, method: string, path: string, json?: unknown, signal?: AbortSignal, gzip = false): Promise<Reply> {
  return new Promise((ok, fail) => {
    const payload = json === undefined ? undefined : Buffer.from(JSON.stringify(json));
    const req = request(url + path, {
      method, agent, signal,
      headers: { authorization: `Bearer ${token}`, ...(gzip ? { "accept-encoding": "gzip" } : {}), ...(payload ? { "content-type": "application/json", "content-length": payload.length } : {}) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks);
        ok({ status: res.statusCode ?? 0, body: res.headers["content-encoding"] === "gzip" ? gunzipSync(body) : body });
      });
      res.on("error", fail);
    });
    req.on("error", fail);
    req.end(payload);
  });
}

/** Like call, but throws unless the status is 2xx, and parses JSON. */
export async function callJson<T = Record<string, unknown>>(url: string, token: string, method: string, path: string, json?: unknown): Promise<T> {
  const r = await call(url, token, method, path, json);
  if (r.status < 200 || r.status > 299) throw new Error(`${method} ${path} → ${r.status}: ${r.body.toString().slice(0, 500)}`);
  return JSON.parse(r.body.toString()) as T;
}

/** A streamed export: counts bytes and newlines without keeping the body. */
export function drain(url: string, token: string, path: string, json: unknown, accept: string): Promise<{ status: number; bytes: number; lines: number; head: string }> {
  return new Promise((ok, fail) => {
    const payload = Buffer.from(JSON.stringify(json));
    const req = request(url + path, {
      method: "POST", agent,
      headers: { authorization: `Bearer ${token}`, accept, "content-type": "application/json", "content-length": payload.length },
    }, (res) => {
      let bytes = 0;
      let lines = 0;
      let head = "";
      res.on("data", (c: Buffer) => {
        if (bytes < 300) head += c.subarray(0, 300).toString();
        bytes += c.length;
        for (let i = c.indexOf(10); i !== -1; i = c.indexOf(10, i + 1)) lines++;
      });
      res.on("end", () => ok({ status: res.statusCode ?? 0, bytes, lines, head }));
      res.on("error", fail);
    });
    req.on("error", fail);
    req.end(payload);
  });
}
