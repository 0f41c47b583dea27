import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { SignJWT } from "jose";
import { isolatedBus } from "@dsb/runtime/testing";
import { createApp } from "./app.ts";
import { createVerifier } from "./auth.ts";
import { CONSOLE_CSP } from "./console.ts";
import { consoleAssetLoader, loopbackSampleToken } from "./console-files.ts";
import type { GatewayDeps } from "./deps.ts";

const SECRET = "console-test-secret-0123456789-0123456789";
const limits = { maxUploadBytes: 1024, maxBodyBytes: 1 << 20, queryMaxRows: 1000, defaultTimeoutMs: 5000, busTimeoutMs: 5000 };
const dir = mkdtempSync(join(tmpdir(), "dsb-console-"));
mkdirSync(join(dir, "assets"));
writeFileSync(join(dir, "index.html"), "<!doctype html><title>console</title><script type=module src=/assets/app-abc.js></script>");
writeFileSync(join(dir, "assets", "app-abc.js"), "console.log('app')");
writeFileSync(join(dir, "assets", "app-abc.js.gz"), gzipSync("console.log('app')"));
writeFileSync(join(dir, "secret.txt"), "not served");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const app = (extra: Partial<GatewayDeps> = {}) =>
  createApp({ bus: isolatedBus(), verifier: createVerifier({ secret: SECRET, tenantClaim: "tenant_id" }), limits, consoleAsset: consoleAssetLoader(dir), ...extra });
const token = () => new SignJWT({ tenant_id: "t1" }).setProtectedHeader({ alg: "HS256" }).setSubject("u1").setExpirationTime("1h").sign(new TextEncoder().encode(SECRET));
/** What @hono/node-server hands the app as `c.env`: the Node request, with its socket. */
const nodeEnv = (remoteAddress: string) => ({ incoming: { socket: { remoteAddress } } }) as never;

describe("console serving", () => {
  it("serves index.html at / with a strict CSP, never cached", async () => {
    const res = await app().request("/");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    expect(res.headers.get("content-security-policy")).toBe(CONSOLE_CSP);
    expect(CONSOLE_CSP).toContain("script-src 'self'");
    expect(CONSOLE_CSP).not.toContain("unsafe-inline");
    expect(res.headers.get("cache-control")).toBe("no-cache");
    expect(await res.text()).toContain("/assets/app-abc.js");
  });

  it("serves hashed assets for a year, gzipped to browsers that take gzip", async () => {
    const plain = await app().request("/assets/app-abc.js");
    expect(plain.status).toBe(200);
    expect(plain.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(plain.headers.get("cache-control")).toContain("immutable");
    expect(plain.headers.get("content-encoding")).toBeNull();
    expect(await plain.text()).toBe("console.log('app')");
    const gz = await app().request("/assets/app-abc.js", { headers: { "accept-encoding": "gzip, br" } });
    expect(gz.headers.get("content-encoding")).toBe("gzip");
    expect(gz.headers.get("vary")).toBe("accept-encoding");
  });

  it("serves nothing outside the build's own files", async () => {
    for (const p of ["/assets/missing.js", "/assets/..%2Fsecret.txt", "/assets/app-abc.js.gz", "/assets/%2e%2e%2findex.html"]) {
      expect((await app().request(p)).status, p).toBe(404);
    }
    const load = consoleAssetLoader(dir);
    for (const p of ["../package.json", "assets/../secret.txt", "secret.txt", "/etc/passwd", "assets/.hidden.js"]) expect(await load(p), p).toBeNull();
  });

  it("leaves the API, /docs and unknown API routes as they were", async () => {
    const a = app();
    const unknown = await a.request("/api/data/nope", { headers: { authorization: `Bearer ${await token()}` } });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ success: false, code: "NOT_FOUND" });
    expect((await a.request("/api/data/sources")).status).toBe(401);
    expect((await a.request("/docs")).headers.get("content-type")).toMatch(/^text\/html/);
    expect((await (await a.request("/openapi.json")).json()).openapi).toBe("3.0.3");
    expect((await a.request("/healthz")).status).toBe(200);
  });

  it("says how to build the console when it is not built", async () => {
    const res = await app({ consoleAsset: undefined }).request("/");
    expect(res.status).toBe(503);
    expect(await res.text()).toContain("npm run build");
  });

  it("offers no sample token unless the Node entry gives one", async () => {
    const res = await app().request("/console/config");
    expect(await res.json()).toEqual({ success: true, sample_token: null });
    expect(res.headers.get("cache-control")).toBe("no-store");
  });

  it("offers the embedded sample token only over loopback to a loopback host name", async () => {
    const a = app({ consoleSampleToken: loopbackSampleToken("sample.jwt.token") });
    const ask = async (remote: string, host: string) =>
      ((await (await a.request("/console/config", { headers: { host } }, nodeEnv(remote))).json()) as { sample_token: string | null }).sample_token;
    expect(await ask("127.0.0.1", "localhost:8080")).toBe("sample.jwt.token");
    expect(await ask("::1", "[::1]:8080")).toBe("sample.jwt.token");
    expect(await ask("::ffff:127.0.0.1", "127.0.0.1:8080")).toBe("sample.jwt.token");
    // Another machine on the network, and a DNS-rebound page on this one, get nothing.
    expect(await ask("192.168.1.20", "localhost:8080")).toBeNull();
    expect(await ask("127.0.0.1", "evil.example:8080")).toBeNull();
    expect(await ask("127.0.0.1", "localhost.evil.example")).toBeNull();
  });
});
