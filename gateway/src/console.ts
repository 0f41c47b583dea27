import type { Context } from "hono";
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { GatewayDeps, GatewayEnv } from "./deps.ts";
import { acceptsGzip } from "./accept-encoding.ts";

/**
 * What the console's page may load: its own files only. CodeMirror mounts its styles as
 * constructed style sheets (not <style> elements), which CSP does not govern, so no
 * 'unsafe-inline' is needed anywhere.
 */
export const CONSOLE_CSP = [
  "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data: blob:", "font-src 'self'",
  "connect-src 'self'", "object-src 'none'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join("; ");

const SECURITY_HEADERS = {
  "content-security-policy": CONSOLE_CSP,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
} as const;

/** Served when `npm run build` has not produced the console (a test run from sources, say). */
const NOT_BUILT = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Console not built</title></head>
<body><p>The web console is not built. Run <code>npm run build</code> (or <code>npm start</code>, which builds it) and reload.
The API is at <a href="/docs">/docs</a>.</p></body></html>`;

/**
 * The web console at `/`: index.html (never cached: it names the current hashed assets),
 * `/assets/*` (content-hashed, cached for a year) and `/console/config`, the page's
 * start-up settings. The files come from `deps.consoleAsset`, so this module stays Web-standard.
 */
export function consoleRoutes(app: OpenAPIHono<GatewayEnv>, { consoleAsset, consoleSampleToken }: GatewayDeps): void {
  const page = async (c: Context<GatewayEnv>) => {
    const index = consoleAsset ? await consoleAsset("index.html") : null;
    if (!index) return c.html(NOT_BUILT, 503, { ...SECURITY_HEADERS, "cache-control": "no-store" });
    return c.body(index.body as never, 200, { ...SECURITY_HEADERS, "content-type": index.type, "cache-control": "no-cache" });
  };
  app.get("/", page);
  app.get("/index.html", page);

  app.get("/assets/:name", async (c) => {
    const gzip = acceptsGzip(c.req.header("accept-encoding"));
    const asset = consoleAsset ? await consoleAsset(`assets/${c.req.param("name")}`, { gzip }) : null;
    if (!asset) return c.text("Not found", 404, { "cache-control": "no-store" });
    return c.body(asset.body as never, 200, {
      ...SECURITY_HEADERS, "content-type": asset.type, "cache-control": "public, max-age=31536000, immutable", vary: "accept-encoding",
      ...(asset.encoding ? { "content-encoding": asset.encoding } : {}),
    });
  });

  // The sample token is handed out only where `npm start` printed it (embedded mode with a generated
  // secret) and only to the same machine: consoleSampleToken decides, from the connection and Host.
  app.get("/console/config", (c) => {
    const token = consoleSampleToken?.(c) ?? null;
    return c.json({ success: true, sample_token: token }, 200, { "cache-control": "no-store" });
  });
}
