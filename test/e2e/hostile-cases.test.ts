/**
 * Fixed hostile cases through the running system (the generated ones are in property-routes):
 * forged and expired tokens, another tenant's ids on every route, SSRF spellings of loopback and
 * metadata addresses, identifier injection in query_config, and slow (slowloris) uploads.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPgSource } from "../support/peers.ts";
import { registeredRoutes } from "../support/routes.ts";
import { JWT_SECRET, startTestSystem, type RunningSystem } from "../support/system.ts";

let sys: RunningSystem;
let src: Awaited<ReturnType<typeof createPgSource>>;
let pgId: string;
let fileId: string;

const config = () => ({ type: "postgres", host: "127.0.0.1", port: 5432, database: src.database, username: "postgres", password: "unused-trust-auth", ssl: { mode: "disable" } });

beforeAll(async () => {
  sys = await startTestSystem({ mode: "embedded" });
  src = await createPgSource(["create table orders (id int primary key, region text, amount int)", "insert into orders values (1, 'EU', 10), (2, 'US', 20)", "create table secrets (v text)", "insert into secrets values ('top')"]);
  const res = await sys.api("/api/data/database/connect", { method: "POST", json: { ...config(), name: "victim" } });
  expect(res.status, await res.clone().text()).toBe(201);
  pgId = (await res.json()).data_source.id;
  const form = new FormData();
  form.set("file", new Blob(["id,name\n1,a\n"]), "victim.csv");
  fileId = (await (await sys.api("/api/data/upload", { method: "POST", body: form })).json()).data_source.id;
});
afterAll(async () => {
  await sys?.stop();
  await src?.drop();
});

describe("tokens", () => {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const future = Math.floor(Date.now() / 1000) + 3600;
  const forged = async () => [
    ["alg none", `${b64({ alg: "none", typ: "JWT" })}.${b64({ sub: "u1", tenant_id: "t1", exp: future })}.`],
    ["alg none, signature kept", `${b64({ alg: "none" })}.${b64({ sub: "u1", tenant_id: "t1", exp: future })}.${(await sys.token()).split(".")[2]}`],
    ["expired", await new SignJWT({ tenant_id: "t1" }).setProtectedHeader({ alg: "HS256" }).setSubject("u1").setExpirationTime("-1m").sign(new TextEncoder().encode(JWT_SECRET))],
    ["wrong key", await new SignJWT({ tenant_id: "t1" }).setProtectedHeader({ alg: "HS256" }).setSubject("u1").setExpirationTime("1h").sign(new TextEncoder().encode("another-secret-another-secret-0123456789"))],
    ["payload swapped to another tenant", (await sys.token()).replace(/\.[^.]+\./, `.${b64({ sub: "u1", tenant_id: "t2", exp: future })}.`)],
    ["HS256 header, RS256 claim", `${b64({ alg: "RS256" })}.${(await sys.token()).split(".").slice(1).join(".")}`],
  ] as const;

  it("alg none, expired, wrong key, tampered: 401 UNAUTHORIZED on every route, nothing of the tenant shown", async () => {
    const routes = registeredRoutes(sys);
    for (const [what, token] of await forged()) {
      for (const r of routes) {
        const res = await fetch(sys.url + r.path.replace(/\{\w+\}/g, pgId), { method: r.method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, ...(r.method === "GET" || r.method === "DELETE" ? {} : { body: "{}" }) });
        const text = await res.text();
        expect(res.status, `${what}: ${r.method} ${r.path}`).toBe(401);
        expect(JSON.parse(text)).toMatchObject({ success: false, code: "UNAUTHORIZED" });
        expect(text).not.toContain("victim");
      }
    }
  });
});

describe("another tenant's ids", () => {
  it("are 404 NOT_FOUND on every route that takes an id, for users and admins of the other tenant, and change nothing", async () => {
    const routes = registeredRoutes(sys).filter((r) => r.path.includes("{"));
    expect(routes.length).toBeGreaterThan(5);
    const bodies: Record<string, unknown> = { PATCH: { name: "taken over" }, POST: { sql: "select * from secrets", query_config: undefined } };
    for (const as of [{ tenant: "t2" }, { tenant: "t2", role: "admin" }, { tenant: "t2", user: "u1" }]) {
      for (const id of [pgId, fileId]) {
        for (const r of routes) {
          const json = r.path.endsWith("/query") ? (id === fileId ? { query_config: {} } : { sql: "select * from secrets" }) : bodies[r.method];
          const res = await sys.api(r.path.replace(/\{\w+\}/g, id), { method: r.method, as, ...(json !== undefined && r.method !== "GET" && r.method !== "DELETE" ? { json } : {}) });
          const text = await res.text();
          expect(res.status, `${JSON.stringify(as)} ${r.method} ${r.path} → ${text}`).toBe(404);
          expect(text).not.toMatch(/victim|top/);
        }
      }
      const list = await (await sys.api("/api/data/sources", { as })).json();
      expect(list.data_sources).toEqual([]);
    }
    const mine = await (await sys.api(`/api/data/sources/${pgId}`)).json();
    expect(mine.data_source).toMatchObject({ name: "victim", is_active: true });
    expect((await (await sys.api(`/api/data/sources/${fileId}`)).json()).data_source.is_active).toBe(true);
  });
});

describe("identifier injection in query_config", () => {
  const attempts = [
    { table: 'public.orders"; drop table secrets; --' },
    { table: "public.orders; drop table secrets" },
    { table: "public.orders", select: ['id" from secrets; --'] },
    { table: "public.orders", select: ["id", "(select v from secrets)"] },
    { table: "public.orders", filters: [{ column: "region' or '1'='1", op: "=", value: "x" }] },
    { table: "public.orders", filters: [{ column: "region", op: "= 'EU' or 1=1 --", value: "x" }] },
    { table: "public.orders", order_by: [{ column: "id; drop table secrets" }] },
    { table: "public.orders", group_by: ["region\"); drop table secrets; --"], aggregates: [{ fn: "count", as: "n" }] },
    { table: "public.orders", aggregates: [{ fn: "sum", column: "amount", as: 'x" from secrets; --' }] },
    { table: "public.orders", aggregates: [{ fn: "pg_read_file", column: "amount", as: "x" }] },
    { table: "public.secrets" },
  ];

  it("never runs injected SQL: refused with 400, or the value is an identifier/parameter; secrets stays", async () => {
    for (const query_config of attempts) {
      const res = await sys.api(`/api/data/sources/${pgId}/query`, { method: "POST", json: { query_config } });
      const body = await res.json();
      const label = JSON.stringify(query_config);
      if (query_config.table === "public.secrets") { expect(res.status, label).toBe(200); continue; } // a real table: allowed, it is this tenant's own data
      if (res.status === 200) {
        // Accepted only as data: a quoted alias, a filter value. Never rows of another table.
        expect(JSON.stringify(body.rows), label).not.toContain("top");
      } else {
        expect([400, 422], `${label} → ${JSON.stringify(body)}`).toContain(res.status);
        expect(body.success).toBe(false);
      }
    }
    expect((await src.exec("select count(*)::int as n from secrets")).rows[0].n).toBe(1);
    expect((await src.exec("select count(*)::int as n from orders")).rows[0].n).toBe(2);
  });

  it("in a file source's query_config: refused or taken as data", async () => {
    for (const query_config of [{ select: ["name\"); process.exit(1); //"] }, { filters: [{ column: "id", op: "=", value: "1 || true" }] }, { order_by: [{ column: "__proto__" }] }, { group_by: ["constructor"], aggregates: [{ fn: "count", as: "__proto__" }] }]) {
      const res = await sys.api(`/api/data/sources/${fileId}/query`, { method: "POST", json: { query_config } });
      expect(res.status, JSON.stringify(query_config)).toBeLessThan(500);
    }
    expect((await sys.api("/healthz")).status).toBe(200);
  });
});

describe("slow uploads (slowloris)", () => {
  /** A multipart upload that sends its head and then trickles a byte every `everyMs` until `stop()`. */
  function trickle(everyMs: number): { done: Promise<number>; stop(): void } {
    const boundary = "----slow";
    const enc = new TextEncoder();
    let timer: NodeJS.Timeout | undefined;
    let abort!: () => void;
    const controller = new AbortController();
    const body = new ReadableStream<Uint8Array>({
      start(ctrl) {
        ctrl.enqueue(enc.encode(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="slow.csv"\r\nContent-Type: text/csv\r\n\r\nid\n`));
        let i = 0;
        timer = setInterval(() => ctrl.enqueue(enc.encode(`${i++}\n`)), everyMs);
        abort = () => { clearInterval(timer); controller.abort(); };
      },
      cancel() { clearInterval(timer); },
    });
    const done = sys.api("/api/data/upload", { method: "POST", body, headers: { "content-type": `multipart/form-data; boundary=${boundary}` }, duplex: "half", signal: controller.signal } as RequestInit)
      .then((r) => r.status, () => 0);
    return { done, stop: () => abort() };
  }

  it("30 uploads trickling a byte at a time do not hold up other requests; when their clients give up, no source and no file is left", async () => {
    const uploads = () => readdirSync(join(sys.dataDir, "uploads"), { recursive: true }).filter((f) => /\.csv$/.test(String(f)));
    const sourcesBefore = (await (await sys.api("/api/data/sources")).json()).data_sources.length;
    const filesBefore = uploads().length;
    const slow = Array.from({ length: 30 }, () => trickle(200));
    try {
      await new Promise((r) => setTimeout(r, 500));
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => sys.api(`/api/data/sources/${pgId}/query`, { method: "POST", json: { sql: `select ${i} as n` } })));
      expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
      const form = new FormData();
      form.set("file", new Blob(["id\n1\n"]), "fast.csv");
      const fast = await sys.api("/api/data/upload", { method: "POST", body: form });
      expect(fast.status).toBe(201);
      await sys.api(`/api/data/sources/${(await fast.json()).data_source.id}`, { method: "DELETE" });
    } finally {
      for (const s of slow) s.stop();
    }
    expect(await Promise.all(slow.map((s) => s.done))).toEqual(Array(30).fill(0)); // aborted by the client
    await new Promise((r) => setTimeout(r, 500));
    expect((await (await sys.api("/api/data/sources")).json()).data_sources.length).toBe(sourcesBefore);
    expect(uploads().length - filesBefore).toBeLessThanOrEqual(1); // the deleted fast upload may keep its file until the sweep
  });
});

describe("SSRF spellings of loopback and metadata addresses (ALLOW_PRIVATE_HOSTS=false)", () => {
  let strict: RunningSystem;
  beforeAll(async () => { strict = await startTestSystem({ mode: "embedded", env: { ALLOW_PRIVATE_HOSTS: "false" } }); }, 60_000);
  afterAll(async () => { await strict?.stop(); });

  const LOOPBACK = ["127.0.0.1", "127.1", "0x7f.1", "0x7f000001", "2130706433", "0177.0.0.1", "127.000.000.001", "localhost", "LOCALHOST.", "[::1]", "::1", "::ffff:127.0.0.1", "[::ffff:7f00:1]", "0.0.0.0", "0", "[::]", "10.0.0.1", "192.168.0.1"];
  const METADATA = ["169.254.169.254", "[::ffff:169.254.169.254]", "0xa9fea9fe", "2852039166", "169.254.169.254.", "fd00:ec2::254", "metadata.google.internal"];

  it("refuses each with 403 ADDRESS_NOT_ALLOWED before any dial, on test, connect and in a connection string, for PostgreSQL, MySQL and ClickHouse", async () => {
    const before = (await (await strict.api("/api/data/sources")).json()).data_sources.length;
    for (const host of [...LOOPBACK, ...METADATA]) {
      const bare = host.replace(/^\[|\]$/g, "");
      const shapes: [string, Record<string, unknown>][] = [
        ["test", { type: "postgres", host: bare, port: 5432, database: "postgres", username: "postgres", password: "x" }],
        ["connect", { type: "mysql", host: bare, port: 3306, database: "x", username: "u", password: "x", name: "ssrf" }],
        ["test", { type: "postgres", connection_string: `postgresql://u:x@${host.includes(":") && !host.startsWith("[") ? `[${host}]` : host}:5432/db` }],
        ["test", { type: "clickhouse", host: bare, port: 8123, username: "default", password: "" }],
      ];
      for (const [path, body] of shapes) {
        const res = await strict.api(`/api/data/database/${path}`, { method: "POST", json: body });
        const out = await res.json();
        // metadata.google.internal does not resolve here: refused as unresolvable is fine too, never dialled.
        if (host === "metadata.google.internal" && res.status !== 403) { expect(out.code, JSON.stringify(out)).toBe("CONNECTION_FAILED"); continue; }
        expect(res.status, `${host} via ${path} ${JSON.stringify(body).slice(0, 120)} → ${JSON.stringify(out)}`).toBe(403);
        expect(out.code).toBe("ADDRESS_NOT_ALLOWED");
      }
    }
    expect((await (await strict.api("/api/data/sources")).json()).data_sources.length).toBe(before);
  });

  it("metadata addresses stay refused even where private hosts are allowed", async () => {
    for (const host of METADATA.filter((h) => h !== "metadata.google.internal")) {
      const res = await sys.api("/api/data/database/test", { method: "POST", json: { type: "postgres", host: host.replace(/^\[|\]$/g, ""), port: 80, database: "x", username: "u", password: "x" } });
      expect(res.status, host).toBe(403);
      expect((await res.json()).code).toBe("ADDRESS_NOT_ALLOWED");
    }
  });
});
