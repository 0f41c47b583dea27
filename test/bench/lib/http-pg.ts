/**
 * The floor of one Node process answering the small query over HTTP: node:http, the bearer token
 * checked against a verified-token cache (as the gateway's verifier does after the first request),
 * the request body parsed, the query run on a pg pool, a JSON answer. No bus, no history, no
 * validation. `http-pg.ts <database url>` prints its port.
 */
import { createServer } from "node:http";
import pg from "pg";
import { jwtVerify } from "jose";

const [url] = process.argv.slice(2);
const secret = new TextEncoder().encode(process.env.JWT_SECRET ?? "");
const pool = new pg.Pool({ connectionString: url!, max: 10 });
const verified = new Map<string, { tenant: unknown; until: number }>();

async function actorOf(auth: string | undefined): Promise<unknown> {
  const token = auth?.slice(7) ?? "";
  const hit = verified.get(token);
  if (hit && hit.until > Date.now()) return hit.tenant;
  const { payload } = await jwtVerify(token, secret, { algorithms: ["HS256"] });
  verified.set(token, { tenant: payload.tenant_id, until: Date.now() + 60_000 });
  return payload.tenant_id;
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    void (async () => {
      try {
        await actorOf(req.headers.authorization);
        const body = JSON.parse(Buffer.concat(chunks).toString()) as { sql: string };
        const r = await pool.query({ text: body.sql, rowMode: "array" });
        const out = Buffer.from(JSON.stringify({ success: true, columns: r.fields.map((f) => ({ name: f.name })), rows: r.rows, row_count: r.rowCount }));
        res.writeHead(200, { "content-type": "application/json", "content-length": out.length });
        res.end(out);
      } catch (e) {
        res.writeHead(500).end(String(e));
      }
    })();
  });
});
server.listen(0, "127.0.0.1", () => {
  const a = server.address();
  console.log(typeof a === "object" && a ? a.port : 0);
});
