import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import { AppError, DataSourceSchema } from "@dsb/contracts";
import type { GatewayDeps, GatewayEnv } from "../deps.ts";
import { BEARER, FAILURE, json, ok, route } from "../openapi.ts";

const UploadForm = z.object({
  file: z.string().meta({ format: "binary", description: "CSV/TSV, XLSX, JSON, NDJSON or Parquet" }),
  name: z.string().optional(),
});

/** POST /api/data/upload: the body streams to storage, never whole into memory. */
export function uploadRoutes(app: OpenAPIHono<GatewayEnv>, { upload, limits }: GatewayDeps): void {
  route(app, createRoute({
    method: "post", path: "/api/data/upload", tags: ["files"], summary: "Upload a file (multipart field `file`, optional `name`)", security: BEARER,
    request: { body: { required: true, content: { "multipart/form-data": { schema: UploadForm } } } },
    responses: { 201: json("The new file source", ok({ data_source: DataSourceSchema })), default: FAILURE },
  }), async (c) => {
    if (!upload) throw new AppError("UNAVAILABLE", "Uploads are not configured on this gateway");
    const type = c.req.header("content-type") ?? "";
    if (!type.toLowerCase().startsWith("multipart/form-data")) throw new AppError("VALIDATION", "Send the file as multipart/form-data with a field named file");
    const length = Number(c.req.header("content-length") ?? "0");
    if (length > limits.maxUploadBytes + 64 * 1024)
      throw new AppError("PAYLOAD_TOO_LARGE", `File is larger than the upload limit of ${limits.maxUploadBytes} bytes (MAX_UPLOAD_BYTES)`);
    // Node's Readable.toWeb (Node 20) counts chunks against a 16,384 high-water mark, so the Web body
    // reads far ahead of a slower store: tens of MiB of a fast client's upload pile up in the gateway.
    // The Node stream itself is read chunk by chunk, with TCP backpressure.
    const source = await upload(c.req.raw, c.get("actor"), c.env?.incoming);
    return c.json({ success: true, data_source: source }, 201);
  });
}
