import type { IncomingMessage } from "node:http";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Context } from "hono";
import type { GatewayEnv } from "./deps.ts";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".woff2": "font/woff2",
  ".png": "image/png",
};

/** Only the build's own file names: no separators, no `..`, a known extension. */
const SAFE_PATH = /^(?:assets\/)?[A-Za-z0-9_-][A-Za-z0-9_.-]*$/;

/**
 * Where `scripts/build-web.mjs` put the console: `dist/web`, found from the bundle
 * (`dist/*.js`) or from the sources (`gateway/src/*.ts`, tests).
 */
export function consoleDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, "web"), join(here, "../../dist/web")];
  return candidates.find((d) => existsSync(join(d, "index.html"))) ?? candidates[1]!;
}

const readOrNull = (p: string) => readFile(p).then((b) => new Uint8Array(b), () => null);

/**
 * Reads console files from disk (`deps.consoleAsset`), the build's gzipped copy when the
 * browser takes gzip; index.html is read on each request so a rebuild shows at once.
 */
export function consoleAssetLoader(dir = consoleDir()) {
  return async (path: string, opts: { gzip?: boolean } = {}) => {
    const type = TYPES[extname(path)];
    if (!type || !SAFE_PATH.test(path)) return null;
    const gz = opts.gzip ? await readOrNull(join(dir, `${path}.gz`)) : null;
    if (gz) return { body: gz, type, encoding: "gzip" as const };
    const body = await readOrNull(join(dir, path));
    return body ? { body, type } : null;
  };
}

const LOOPBACK_ADDRESSES = /^(?:127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/;
const LOOPBACK_HOSTS = /^(?:localhost|127\.\d+\.\d+\.\d+|\[::1\])(?::\d+)?$/i;

/**
 * `deps.consoleSampleToken` for embedded mode: the printed sample token, offered only when
 * the browser connects over loopback and names a loopback host. The Host check stops DNS
 * rebinding (a web page whose name was re-pointed at 127.0.0.1 is same-origin with us, but
 * its Host header still carries its own name).
 */
export function loopbackSampleToken(token: string) {
  return (c: Context<GatewayEnv>): string | null => {
    const socket = (c.env?.incoming as IncomingMessage | undefined)?.socket;
    const host = c.req.header("host") ?? "";
    return socket && LOOPBACK_ADDRESSES.test(socket.remoteAddress ?? "") && LOOPBACK_HOSTS.test(host) ? token : null;
  };
}
