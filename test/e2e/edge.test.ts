import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { startTestSystem, JWT_SECRET, type RunningSystem } from "../support/system.ts";
import { TestNatsServer } from "../support/nats-server.ts";
import { createPgSource } from "../support/peers.ts";
import { EDGE_RUNTIMES, startEdgeGateway, type EdgeGatewayProcess } from "../support/edge-gateway.ts";
import { startProjectNats, testPassword } from "../deploy/nats-server.ts";

/**
 * The REST contract through each gateway entry: Node (in this process), workerd and Deno
 * (their own processes, the bus as NATS over WebSocket), in distributed mode on a private
 * nats-server with a WebSocket listener; catalog, connector and ingestion on Node.
 */
const MAX_UPLOAD_BYTES = 4 * 1024 * 1024;
const ENTRIES = ["node", ...EDGE_RUNTIMES] as const;
type Entry = (typeof ENTRIES)[number];

let nats: TestNatsServer;
let sys: RunningSystem;
let jwks: Server;
let signEs256: (claims: Record<string, unknown>) => Promise<string>;
let src: Awaited<ReturnType<typeof createPgSource>>;
/** What the edge gateways are started with. */
let edgeVars: Record<string, string>;
const edges = new Map<Entry, EdgeGatewayProcess>();
const urls = new Map<Entry, string>();

beforeAll(async () => {
  // RS256/ES256 tokens come from a JWKS the gateways fetch over HTTP.
  const { publicKey, privateKey } = await generateKeyPair("ES256");
  const jwk = { ...(await exportJWK(publicKey)), kid: "edge-test", alg: "ES256", use: "sig" };
  jwks = createServer((_, res) => { res.setHeader("content-type", "application/json"); res.end(JSON.stringify({ keys: [jwk] })); });
  await new Promise<void>((r) => jwks.listen(0, "127.0.0.1", r));
  const jwksUrl = `http://127.0.0.1:${(jwks.address() as { port: number }).port}/jwks.json`;
  signEs256 = (claims) => new SignJWT(claims).setProtectedHeader({ alg: "ES256", kid: "edge-test" }).setSubject("jwks-user").setExpirationTime("1h").sign(privateKey);

  nats = await TestNatsServer.startWithWebSocket();
  const env = { JWT_JWKS_URL: jwksUrl, MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES) };
  sys = await startTestSystem({ mode: "distributed", natsUrl: nats.url, env });
  urls.set("node", sys.url);
  edgeVars = {
    ...env, NATS_URL: nats.wsUrl, JWT_SECRET, BUS_NAMESPACE: sys.env.BUS_NAMESPACE!, LOG_LEVEL: "warn", ALLOW_PRIVATE_HOSTS: "true",
  };
  await Promise.all(EDGE_RUNTIMES.map(async (runtime) => {
    const gw = await startEdgeGateway(runtime, edgeVars);
    edges.set(runtime, gw);
    urls.set(runtime, gw.url);
  }));
  src = await createPgSource([
    "create table orders (id int primary key, region text, amount numeric(10,2))",
    "insert into orders select g, case when g % 2 = 0 then 'EU' else 'US' end, g * 1.5 from generate_series(1, 1000) g",
  ]);
}, 120_000);

afterAll(async () => {
  await Promise.all([...edges.values()].map((g) => g.stop()));
  await sys?.stop();
  await nats?.dispose();
  await src?.drop();
  await new Promise((r) => jwks?.close(r));
});

const token = (tenant = "t1") => new SignJWT({ tenant_id: tenant }).setProtectedHeader({ alg: "HS256" }).setSubject("u1").setExpirationTime("1h").sign(new TextEncoder().encode(JWT_SECRET));

describe.each(ENTRIES)("the REST contract through the %s gateway", (entry) => {
  const url = (path: string) => `${urls.get(entry)}${path}`;
  const api = async (path: string, init: RequestInit & { json?: unknown; tenant?: string } = {}) => {
    const { json, tenant, ...rest } = init;
    const headers = new Headers(rest.headers);
    headers.set("authorization", `Bearer ${await token(tenant)}`);
    if (json !== undefined) headers.set("content-type", "application/json");
    return fetch(url(path), { ...rest, headers, ...(json !== undefined ? { body: JSON.stringify(json) } : {}) });
  };
  let sourceId: string;

  it("answers /healthz, and /readyz with every service up over its bus", async () => {
    expect(await (await fetch(url("/healthz"))).json()).toEqual({ status: "ok" });
    expect(await (await fetch(url("/readyz"))).json()).toEqual({ status: "ready", bus: "up", services: { catalog: "up", connector: "up", ingestion: "up" } });
  });

  it("serves the OpenAPI document, /docs and the viewer's own assets", async () => {
    const doc = await (await fetch(url("/openapi.json"))).json();
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/api/data/sources/{id}/query", "/api/data/upload"]));
    expect(await (await fetch(url("/docs"))).text()).toContain("SwaggerUIBundle");
    const js = await fetch(url("/docs/assets/swagger-ui-bundle.js"));
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toMatch(/javascript/);
    expect((await js.text()).length).toBeGreaterThan(100_000);
  });

  it("verifies HS256 and JWKS (ES256) tokens and refuses missing, forged and unsigned ones", async () => {
    expect((await fetch(url("/api/data/sources"))).status).toBe(401);
    const forged = `${(await token()).slice(0, -4)}AAAA`;
    expect(await (await fetch(url("/api/data/sources"), { headers: { authorization: `Bearer ${forged}` } })).json()).toMatchObject({ code: "UNAUTHORIZED" });
    const none = `${btoa(JSON.stringify({ alg: "none" })).replace(/=/g, "")}.${btoa(JSON.stringify({ sub: "u", tenant_id: "t1", exp: 9e9 })).replace(/=/g, "")}.`;
    expect((await fetch(url("/api/data/sources"), { headers: { authorization: `Bearer ${none}` } })).status).toBe(401);
    expect((await api("/api/data/sources")).status).toBe(200);
    const viaJwks = await fetch(url("/api/data/sources"), { headers: { authorization: `Bearer ${await signEs256({ tenant_id: `jwks-${entry}` })}` } });
    expect(await viaJwks.json()).toEqual({ success: true, data_sources: [], next_cursor: null });
  });

  it("validates bodies (400) and answers the removed routes with 501 and unknown ones with 404", async () => {
    const bad = await api("/api/data/database/connect", { method: "POST", json: { type: "postgres" } });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ success: false, code: "VALIDATION" });
    expect((await fetch(url("/api/data/cube/meta"))).status).toBe(501);
    const missing = await api("/api/data/nothing-here");
    expect(missing.status).toBe(404);
    expect(missing.headers.get("x-request-id")).toBeTruthy();
  });

  it("connects a database, queries it, keeps it from other tenants and records history", async () => {
    const res = await api("/api/data/database/connect", { method: "POST", json: { type: "postgres", host: "127.0.0.1", port: 5432, database: src.database, username: "postgres", password: "pw-never-shown", name: `Orders via ${entry}` } });
    const body = await res.json();
    expect(res.status).toBe(201);
    expect(JSON.stringify(body)).not.toContain("pw-never-shown");
    sourceId = body.data_source.id;
    expect(body.data_source.schema.tables.map((t: { name: string }) => t.name)).toContain("orders");
    const q = await (await api(`/api/data/sources/${sourceId}/query`, { method: "POST", json: { sql: "select region, count(*)::int as n from orders where id <= $1 group by region order by region", params: [10] } })).json();
    expect(q).toMatchObject({ rows: [["EU", 5], ["US", 5]], row_count: 2, truncated: false });
    expect((await api(`/api/data/sources/${sourceId}`, { tenant: "t2" })).status).toBe(404);
    const hist = await (await api(`/api/data/sources/${sourceId}/queries`)).json();
    expect(hist.queries[0]).toMatchObject({ id: q.query_id, status: "success", result_count: 2 });
  });

  it("streams CSV and NDJSON exports", async () => {
    const csv = await api(`/api/data/sources/${sourceId}/query`, { method: "POST", headers: { accept: "text/csv" }, json: { sql: "select id, region from orders order by id" } });
    expect(csv.headers.get("content-type")).toMatch(/^text\/csv/);
    const lines = (await csv.text()).trimEnd().split("\r\n");
    expect(lines).toHaveLength(1001);
    expect(lines.slice(0, 3)).toEqual(["id,region", "1,US", "2,EU"]);
    const nd = await api(`/api/data/sources/${sourceId}/query?format=ndjson`, { method: "POST", json: { sql: "select id, amount from orders where id > 998 order by id" } });
    expect(nd.headers.get("content-type")).toMatch(/ndjson/);
    expect((await nd.text()).trimEnd().split("\n").map((l) => JSON.parse(l))).toEqual([{ id: 999, amount: "1498.50" }, { id: 1000, amount: "1500.00" }]);
  });

  it("streams an upload of several chunks into storage, queries it, and refuses one over MAX_UPLOAD_BYTES with 413", async () => {
    // ~3 MiB: several Object Store chunks and many request-body chunks through the multipart reader.
    const rows = Array.from({ length: 60_000 }, (_, i) => `${i},${i % 7 === 0 ? "seven" : "other"},${"x".repeat(30)}`);
    const form = new FormData();
    form.set("file", new Blob([`id,kind,pad\n${rows.join("\n")}\n`]), `big ${entry}.csv`);
    const res = await api("/api/data/upload", { method: "POST", body: form });
    const body = await res.json();
    expect(res.status, JSON.stringify(body)).toBe(201);
    expect(body.data_source).toMatchObject({ type: "file", format: "csv", name: `big ${entry}.csv` });
    expect(body.data_source.schema.tables[0].rowCount).toBe(60_000);
    const q = await (await api(`/api/data/sources/${body.data_source.id}/query`, { method: "POST", json: { query_config: { group_by: ["kind"], aggregates: [{ fn: "count", as: "n" }], order_by: [{ column: "kind" }] } } })).json();
    expect(q.rows).toEqual([["other", 51_428], ["seven", 8_572]]);

    const big = new FormData();
    big.set("file", new Blob([new Uint8Array(MAX_UPLOAD_BYTES + 200_000).fill(0x41)]), "too big.csv");
    const refused = await api("/api/data/upload", { method: "POST", body: big });
    expect(refused.status).toBe(413);
    expect(await refused.json()).toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
  });
});

describe("a large streamed upload through the Deno gateway", () => {
  const MiB = 1024 * 1024;
  const rssMiB = (pid: number) => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;
  /** A CSV of `mib` MiB streamed in 64 KiB chunks (Transfer-Encoding: chunked), as fetch sends a ReadableStream. */
  const csvStream = (mib: number, boundary: string) => {
    const enc = new TextEncoder();
    const line = "1,some text here,2.5,2024-01-01\n";
    const block = enc.encode(line.repeat(65536 / line.length));
    let left = (mib * MiB) / block.length;
    return new ReadableStream<Uint8Array>({
      start: (c) => c.enqueue(enc.encode(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\nid,name,v,d\n`)),
      pull: (c) => {
        if (left-- > 0) return c.enqueue(block);
        c.enqueue(enc.encode(`\r\n--${boundary}--\r\n`));
        c.close();
      },
    });
  };

  it("stores and registers 150 MiB with Deno's memory bounded (its HTTP/1.1 server does not pile up a chunked body)", async () => {
    // Before deno-body.ts Deno held most of what the client had sent ahead of the Object Store writes:
    // +150-160 MiB at 150 MiB, growing with the upload; now +88-94 MiB (V8's garbage, as with Content-Length).
    const gw = await startEdgeGateway("deno", { ...edgeVars, MAX_UPLOAD_BYTES: String(256 * MiB) });
    try {
      const before = rssMiB(gw.pid);
      let peak = before;
      const sampler = setInterval(() => { peak = Math.max(peak, rssMiB(gw.pid)); }, 50);
      const res = await fetch(`${gw.url}/api/data/upload`, {
        method: "POST", body: csvStream(150, "bigBoundary"), duplex: "half",
        headers: { authorization: `Bearer ${await token()}`, "content-type": "multipart/form-data; boundary=bigBoundary" },
      } as RequestInit);
      const body = await res.json();
      clearInterval(sampler);
      expect(res.status, JSON.stringify(body)).toBe(201);
      expect(body.data_source.schema.tables[0].rowCount).toBe((150 * MiB) / 32);
      expect(peak - before, `Deno's resident memory ${before.toFixed(0)} -> ${peak.toFixed(0)} MiB`).toBeLessThan(125);
    } finally {
      await gw.stop();
    }
  }, 240_000);
});

describe("deploy/nats.conf's WebSocket listener", () => {
  it("lets the workerd gateway in as the gateway user, with its inbox and upload bucket permissions", async () => {
    const project = await startProjectNats();
    try {
      const gw = await startEdgeGateway("workerd", { NATS_URL: project.wsUrl, NATS_USER: "gateway", NATS_PASS: testPassword("gateway"), JWT_SECRET, LOG_LEVEL: "warn" });
      try {
        // Started means the bucket opened over the JetStream API; the bus is up, no service runs here.
        expect(await (await fetch(`${gw.url}/readyz`)).json()).toEqual({ status: "unavailable", bus: "up", services: { catalog: "down", connector: "down", ingestion: "down" } });
      } finally {
        await gw.stop();
      }
    } finally {
      await project.stop();
    }
  });
});
