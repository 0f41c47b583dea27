import { describe, expect, it, vi } from "vitest";
import { SignJWT, generateKeyPair, exportJWK } from "jose";
import { isolatedBus } from "@dsb/runtime/testing";
import { AppError } from "@dsb/contracts";
import { accessLevel, createApp } from "./app.ts";
import { createVerifier } from "./auth.ts";

const SECRET = "test-secret-with-enough-length-0123456789";
const limits = { maxUploadBytes: 1024, maxBodyBytes: 1024 * 1024, queryMaxRows: 1000, defaultTimeoutMs: 5000, busTimeoutMs: 5000 };

async function token(claims: Record<string, unknown> = {}, secret = SECRET, exp = "1h") {
  return new SignJWT({ tenant_id: "t1", ...claims }).setProtectedHeader({ alg: "HS256" }).setSubject("u1").setIssuedAt().setExpirationTime(exp).sign(new TextEncoder().encode(secret));
}

async function setup() {
  const bus = isolatedBus();
  const seen: unknown[] = [];
  await bus.serve("catalog", {
    "catalog.source.list": async (req) => { seen.push(req); return { sources: [], next_cursor: null }; },
    "catalog.source.get": async () => { throw new AppError("NOT_FOUND", "Data source not found"); },
  }, { replicaId: "r1" });
  const app = createApp({ bus, verifier: createVerifier({ secret: SECRET, tenantClaim: "tenant_id" }), limits });
  return { app, seen };
}

describe("gateway auth", () => {
  it("refuses a request without a token with the API envelope", async () => {
    const { app } = await setup();
    const res = await app.request("/api/data/sources");
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ success: false, code: "UNAUTHORIZED" });
  });

  it("refuses alg none, a wrong key, an expired token and a token without tenant", async () => {
    const { app } = await setup();
    const none = `${Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url")}.${Buffer.from(JSON.stringify({ sub: "u1", tenant_id: "t1" })).toString("base64url")}.`;
    const bad = [none, await token({}, "another-secret-another-secret-123456"), await token({}, SECRET, "-1m"), "not-a-jwt", await token({ tenant_id: undefined })];
    for (const t of bad) {
      const res = await app.request("/api/data/sources", { headers: { authorization: `Bearer ${t}` } });
      expect(res.status, t).toBe(401);
      const body = await res.json();
      expect(body).toMatchObject({ success: false, code: "UNAUTHORIZED" });
    }
  });

  it("passes the tenant from the token, never from the request", async () => {
    const { app, seen } = await setup();
    const res = await app.request("/api/data/sources?tenant_id=evil", { headers: { authorization: `Bearer ${await token()}`, "x-tenant-id": "evil" } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ success: true, data_sources: [], next_cursor: null });
    expect(seen[0]).toMatchObject({ actor: { tenant_id: "t1", user_id: "u1" } });
  });

  it("accepts RS256 tokens from a JWKS", async () => {
    const { publicKey, privateKey } = await generateKeyPair("RS256");
    const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "RS256" };
    const server = (await import("node:http")).createServer((_, res) => { res.setHeader("content-type", "application/json"); res.end(JSON.stringify({ keys: [jwk] })); });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    try {
      const verify = createVerifier({ jwksUrl: `http://127.0.0.1:${port}/jwks`, tenantClaim: "org" });
      const t = await new SignJWT({ org: "42" }).setProtectedHeader({ alg: "RS256", kid: "k1" }).setSubject("u9").setExpirationTime("1h").sign(privateKey);
      expect(await verify(t)).toEqual({ tenant_id: "42", user_id: "u9" });
      const hs = await token();
      await expect(verify(hs)).rejects.toMatchObject({ code: "UNAUTHORIZED" });
    } finally {
      server.close();
    }
  });
});

describe("token claims", () => {
  const sign = (claims: Record<string, unknown>, exp?: string) => {
    const jwt = new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setSubject("u1");
    return (exp ? jwt.setExpirationTime(exp) : jwt).sign(new TextEncoder().encode(SECRET));
  };

  it("refuses a token without exp unless the setting relaxes it", async () => {
    const forever = await sign({ tenant_id: "t1" });
    await expect(createVerifier({ secret: SECRET, tenantClaim: "tenant_id" })(forever)).rejects.toMatchObject({ code: "UNAUTHORIZED", message: expect.stringMatching(/no exp/) });
    expect(await createVerifier({ secret: SECRET, tenantClaim: "tenant_id", requireExp: false })(forever)).toEqual({ tenant_id: "t1", user_id: "u1" });
    const { app } = await setup();
    const res = await app.request("/api/data/sources", { headers: { authorization: `Bearer ${forever}` } });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ success: false, code: "UNAUTHORIZED", error: expect.stringMatching(/exp/) });
  });

  it("takes the tenant only as a non-empty string: 123 is not \"123\"", async () => {
    const verify = createVerifier({ secret: SECRET, tenantClaim: "tenant_id" });
    expect(await verify(await sign({ tenant_id: "123" }, "1h"))).toEqual({ tenant_id: "123", user_id: "u1" });
    for (const tenant of [123, true, ["123"], { id: "123" }, ""]) {
      await expect(verify(await sign({ tenant_id: tenant }, "1h")), JSON.stringify(tenant)).rejects.toMatchObject({ code: "UNAUTHORIZED", message: expect.stringMatching(/tenant_id/) });
    }
    const { app } = await setup();
    const res = await app.request("/api/data/sources", { headers: { authorization: `Bearer ${await sign({ tenant_id: 123 }, "1h")}` } });
    expect(res.status).toBe(401);
    expect((await res.json()).error).toMatch(/must be a string/);
  });
});

describe("token cache", () => {
  it("stops accepting a remembered token once it expires", async () => {
    // The clock is moved by hand: a real one-second expiry raced a slow first verify on a busy machine.
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      const verify = createVerifier({ secret: SECRET, tenantClaim: "tenant_id" });
      const t = await new SignJWT({ tenant_id: "t1" }).setProtectedHeader({ alg: "HS256" }).setSubject("u1")
        .setExpirationTime(Math.floor(Date.now() / 1000) + 30).sign(new TextEncoder().encode(SECRET));
      expect(await verify(t)).toEqual({ tenant_id: "t1", user_id: "u1" });
      expect(await verify(t)).toEqual({ tenant_id: "t1", user_id: "u1" });
      vi.setSystemTime(Date.now() + 31_000);
      await expect(verify(t)).rejects.toMatchObject({ code: "UNAUTHORIZED" });
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("gateway routes", () => {
  it("puts a request id on every answer: success, error and 401, echoing the caller's", async () => {
    const { app } = await setup();
    for (const [path, status] of [["/healthz", 200], ["/api/data/sources", 401], ["/nope", 404]] as const) {
      const res = await app.request(path);
      expect(res.status).toBe(status);
      expect(res.headers.get("x-request-id")).toMatch(/^[\w-]{8,}$/);
    }
    const mine = await app.request("/healthz", { headers: { "x-request-id": "trace-me-123" } });
    expect(mine.headers.get("x-request-id")).toBe("trace-me-123");
  });

  it("answers the removed Cube.js routes with 501 before auth", async () => {
    const { app } = await setup();
    for (const p of ["/api/data/cube/anything", "/api/data/cube-modeling/x/y", "/api/data/cube"]) {
      const res = await app.request(p, { method: "POST" });
      expect(res.status).toBe(501);
      expect(await res.json()).toMatchObject({ success: false, code: "NOT_IMPLEMENTED" });
    }
  });

  it("maps bus errors to the envelope: 404 for a missing source", async () => {
    const { app } = await setup();
    const res = await app.request("/api/data/sources/nope", { headers: { authorization: `Bearer ${await token()}` } });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ success: false, error: "Data source not found", code: "NOT_FOUND" });
  });

  it("refuses an unknown database type with 422 and the seed's message", async () => {
    const { app } = await setup();
    const res = await app.request("/api/data/database/test", {
      method: "POST", headers: { authorization: `Bearer ${await token()}`, "content-type": "application/json" }, body: JSON.stringify({ type: "cassandra", host: "x" }),
    });
    expect(res.status).toBe(422);
    const body = await res.json();
    expect(body.code).toBe("UNSUPPORTED_DATABASE");
    expect(body.error).toMatch(/^Unsupported database type: cassandra\. Supported: \[postgresql, mysql, .*, mongodb\]$/);
  });

  it("gives 400 VALIDATION for malformed JSON and for a query with neither sql nor query_config", async () => {
    const { app } = await setup();
    const headers = { authorization: `Bearer ${await token()}`, "content-type": "application/json" };
    const a = await app.request("/api/data/database/test", { method: "POST", headers, body: "{not json" });
    expect(a.status).toBe(400);
    expect((await a.json()).code).toBe("VALIDATION");
    const b = await app.request("/api/data/sources/s1/query", { method: "POST", headers, body: JSON.stringify({ limit: 5 }) });
    expect(b.status).toBe(400);
    expect((await b.json()).code).toBe("VALIDATION");
  });

  it("lists every API.md path in /openapi.json", async () => {
    const { app } = await setup();
    const doc = await (await app.request("/openapi.json")).json();
    const paths = Object.keys(doc.paths);
    for (const p of ["/api/data/databases", "/api/data/database/test", "/api/data/database/connect", "/api/data/sources", "/api/data/sources/{id}",
      "/api/data/sources/{id}/schema", "/api/data/sources/{id}/query", "/api/data/sources/{id}/queries", "/api/data/upload"]) expect(paths).toContain(p);
    expect(doc.paths["/api/data/sources/{id}"].delete).toBeDefined();
  });

  it("documents the failed-test body, the probes, metrics and the removed cube routes in /openapi.json", async () => {
    const { app } = await setup();
    const doc = await (await app.request("/openapi.json")).json();
    const test = JSON.stringify(doc.paths["/api/data/database/test"].post.responses["200"]);
    expect(test).toContain("CONNECTION_FAILED");
    expect(test).toMatch(/"success":\{[^}]*"enum":\[false\]/);
    expect(doc.paths["/healthz"].get.responses["200"]).toBeDefined();
    expect(doc.paths["/readyz"].get.responses["503"]).toBeDefined();
    expect(doc.paths["/metrics"].get.responses["200"].content["text/plain"]).toBeDefined();
    for (const p of ["/api/data/cube", "/api/data/cube/{path}", "/api/data/cube-modeling", "/api/data/cube-modeling/{path}"])
      expect(doc.paths[p].post.responses["501"], p).toBeDefined();
  });

  it("lists the supported databases with fields", async () => {
    const { app } = await setup();
    const res = await app.request("/api/data/databases", { headers: { authorization: `Bearer ${await token()}` } });
    const body = await res.json();
    expect(body.databases.map((d: { type: string }) => d.type)).toEqual(["postgresql", "mysql", "clickhouse", "mssql", "snowflake", "bigquery", "redshift", "mongodb"]);
    const pg = body.databases[0];
    expect(pg.default_port).toBe(5432);
    expect(pg.fields.find((f: { name: string }) => f.name === "password")).toMatchObject({ secret: true, required: false });
  });
});

describe("access line levels", () => {
  it("logs faults at error, a query that outran its own timeout (504) at warn, probes at debug", () => {
    expect(accessLevel(500, "/api/data/sources/:id/query")).toBe("error");
    expect(accessLevel(503, "/api/data/sources")).toBe("error");
    expect(accessLevel(504, "/api/data/sources/:id/query")).toBe("warn");
    expect(accessLevel(200, "/healthz")).toBe("debug");
    expect(accessLevel(404, "/api/data/sources/:id")).toBe("info");
  });
});
