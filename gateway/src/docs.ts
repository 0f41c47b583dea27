import type { OpenAPIHono } from "@hono/zod-openapi";
import { buildAsyncApi } from "@dsb/contracts";
import type { GatewayDeps, GatewayEnv } from "./deps.ts";

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Data sources API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="api-reference"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#api-reference", deepLinking: true, persistAuthorization: true });</script>
</body></html>`;

/** The bus's AsyncAPI document as JSON text, built once per process (~0.1 s of zod-to-JSON-Schema) on first use. */
let asyncApiText: string | undefined;

/** /openapi.json, /asyncapi.json (the bus, docs/bus.md) and /docs, an interactive reference whose assets the gateway serves itself. */
export function docsRoutes(app: OpenAPIHono<GatewayEnv>, { docsAsset }: GatewayDeps): void {
  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", { type: "http", scheme: "bearer", bearerFormat: "JWT" });
  app.doc("/openapi.json", {
    openapi: "3.0.3",
    info: { title: "Data sources API", version: "1.0.0", description: "Register databases and files, introspect schemas, run queries, keep a history." },
  });
  app.get("/asyncapi.json", (c) => c.body(asyncApiText ??= JSON.stringify(buildAsyncApi()), 200, { "content-type": "application/json; charset=utf-8" }));
  app.get("/docs", (c) => c.html(PAGE));
  app.get("/docs/assets/:name", async (c) => {
    const asset = docsAsset ? await docsAsset(c.req.param("name")) : null;
    if (!asset) return c.text("Not found", 404);
    return c.body(asset.body as never, 200, { "content-type": asset.type, "cache-control": "public, max-age=86400" });
  });
}
