import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { verify, type KeyObject } from "node:crypto";
import type { AddressInfo } from "node:net";
import type { BqField } from "../../../services/connector/src/drivers/bigquery/types.ts";

/**
 * A local stand-in for the BigQuery REST API v2, enough for the real SDK: jobs.insert
 * (dry runs with statementType), getQueryResults with maxResults/pageToken paging and
 * jobComplete polling, jobs.cancel, datasets.list. It checks every request's bearer
 * token is a JWT signed by the test's service-account key. It is not a SQL engine:
 * it answers the handful of statement shapes the driver tests send over one in-memory
 * table (the suite's dsb_suite_items) and its view; GENERATE_ARRAY queries never finish.
 */
export interface BigqueryStandIn {
  url: string;
  /** Every request as `METHOD /path`. */
  requests: string[];
  /** Job ids jobs.cancel was called for. */
  cancelled: string[];
  /** SQL text of every job inserted (dry runs included). */
  statements: { sql: string; dryRun: boolean }[];
  close(): Promise<void>;
}

type Cell = string | null;
interface Result { fields: BqField[]; rows: Cell[][] }
interface JobState { id: string; result: Result | null; hang: boolean; cancelled: boolean }

const ITEMS_FIELDS: BqField[] = [
  { name: "id", type: "INTEGER", mode: "REQUIRED" }, { name: "name", type: "STRING", mode: "REQUIRED" },
  { name: "amount", type: "NUMERIC", mode: "NULLABLE" }, { name: "big", type: "INTEGER", mode: "NULLABLE" },
  { name: "created_at", type: "TIMESTAMP", mode: "NULLABLE" }, { name: "flag", type: "BOOLEAN", mode: "NULLABLE" },
];
const micros = (iso: string) => String(Date.parse(iso) * 1000);
const ITEMS: Cell[][] = [
  ["1", "alpha", "10.5", "9007199254740993", micros("2024-01-02T03:04:05Z"), "true"],
  ["2", "beta", null, "2", micros("2024-02-03T04:05:06Z"), "false"],
  ["3", "gamma", "7.25", "3", null, null],
];

const SCHEMA_FIELDS: BqField[] = ["table_name", "table_type", "column_name", "data_type", "is_nullable", "is_pk", "column_comment", "table_comment", "row_count"]
  .map((name) => ({ name, type: name === "is_pk" ? "BOOLEAN" : name === "row_count" ? "INTEGER" : "STRING" }));
const SCHEMA_ROWS: Cell[][] = [
  ...ITEMS_FIELDS.map((f): Cell[] => [
    "dsb_suite_items", "BASE TABLE", f.name, { INTEGER: "INT64", BOOLEAN: "BOOL" }[f.type] ?? f.type, f.mode === "REQUIRED" ? "NO" : "YES",
    f.name === "id" ? "true" : "false", f.name === "name" ? "item name" : null, '"Suite items"', "3",
  ]),
  ["dsb_suite_view", "VIEW", "id", "INT64", "YES", "false", null, null, null],
  ["dsb_suite_view", "VIEW", "name", "STRING", "YES", "false", null, null, null],
];

const stripComments = (sql: string) => sql.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/--[^\n]*/g, " ").trim();

/** What BigQuery's dry run reports as statementType. */
function statementType(sql: string): string {
  const s = stripComments(sql).toUpperCase();
  const m = /^(\w+)(?:\s+(?:OR\s+REPLACE\s+)?(?:TEMP(?:ORARY)?\s+)?(\w+))?/.exec(s);
  const first = m?.[1] ?? "";
  if (first === "SELECT" || first === "WITH" || first === "(") return "SELECT";
  if (first === "CREATE" || first === "DROP" || first === "ALTER") return `${first}_${m?.[2] === "VIEW" ? "VIEW" : m?.[2] === "SCHEMA" ? "SCHEMA" : "TABLE"}`;
  return first || "SCRIPT";
}

function evaluate(sql: string, params: string[]): Result | "hang" | { error: string } {
  const s = stripComments(sql).replace(/\s+/g, " ");
  if (/GENERATE_ARRAY/i.test(s)) return "hang";
  if (/INFORMATION_SCHEMA\.COLUMNS/i.test(s)) return { fields: SCHEMA_FIELDS, rows: SCHEMA_ROWS };
  if (/^select 1$/i.test(s)) return { fields: [{ name: "f0_", type: "INTEGER" }], rows: [["1"]] };
  if (statementType(s) !== "SELECT") return { fields: [], rows: [] };
  const m = /^select (.+?) from (\S+)(?: where (\w+) = \?)?(?: order by (\w+))?$/i.exec(s);
  if (!m || !/dsb_suite_(items|view)/.test(m[2]!)) return { error: `Unrecognized name or unsupported query in the stand-in: ${s.slice(0, 80)}` };
  const isView = m[2]!.includes("dsb_suite_view");
  const fields = isView ? ITEMS_FIELDS.slice(0, 2) : ITEMS_FIELDS;
  let rows = ITEMS.map((r) => r.slice(0, fields.length));
  if (m[3]) {
    const i = fields.findIndex((f) => f.name === m[3]!.toLowerCase());
    rows = rows.filter((r) => r[i] === params[0]);
  }
  if (/^count\(\*\)$/i.test(m[1]!.trim())) return { fields: [{ name: "f0_", type: "INTEGER" }], rows: [[String(rows.length)]] };
  const idx = m[1]!.split(",").map((c) => fields.findIndex((f) => f.name === c.trim().toLowerCase()));
  if (idx.some((i) => i < 0)) return { error: `Unrecognized name: ${m[1]}` };
  return { fields: idx.map((i) => fields[i]!), rows: rows.map((r) => idx.map((i) => r[i]!)) };
}

/** True when the bearer token is a JWT signed (RS256) by `publicKey`. */
function authorized(req: IncomingMessage, publicKey: KeyObject): boolean {
  const m = /^Bearer (.+)\.(.+)\.(.+)$/.exec(req.headers.authorization ?? "");
  if (!m) return false;
  try {
    return verify("RSA-SHA256", Buffer.from(`${m[1]}.${m[2]}`), publicKey, Buffer.from(m[3]!, "base64url"));
  } catch {
    return false;
  }
}

export async function startBigqueryStandIn(opts: { publicKey: KeyObject; project: string; dataset: string }): Promise<BigqueryStandIn> {
  const jobs = new Map<string, JobState>();
  const state: Omit<BigqueryStandIn, "url" | "close"> = { requests: [], cancelled: [], statements: [] };
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  const apiError = (res: ServerResponse, code: number, reason: string, message: string) =>
    json(res, code, { error: { code, message, errors: [{ reason, message, domain: "global" }], status: code === 401 ? "UNAUTHENTICATED" : "INVALID_ARGUMENT" } });
  const jobResource = (id: string, extra: Record<string, unknown>) => ({
    kind: "bigquery#job", id: `${opts.project}:US.${id}`, jobReference: { projectId: opts.project, jobId: id, location: "US" }, ...extra,
  });

  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? "/", "http://stand-in");
    state.requests.push(`${req.method} ${url.pathname}`);
    if (!authorized(req, opts.publicKey)) {
      return apiError(res, 401, "authError", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.");
    }
    const base = `/bigquery/v2/projects/${opts.project}`;
    const path = url.pathname;
    if (req.method === "GET" && path === `${base}/datasets`) {
      return json(res, 200, { kind: "bigquery#datasetList", datasets: [{ kind: "bigquery#dataset", id: `${opts.project}:${opts.dataset}`, datasetReference: { projectId: opts.project, datasetId: opts.dataset }, location: "US" }] });
    }
    if (req.method === "POST" && path === `${base}/jobs`) {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as {
        jobReference?: { jobId?: string }; configuration?: { dryRun?: boolean; query?: { query?: string; queryParameters?: { parameterValue?: { value?: unknown } }[] } };
      };
      const sql = body.configuration?.query?.query ?? "";
      const dryRun = body.configuration?.dryRun === true;
      const id = body.jobReference?.jobId ?? `job_${jobs.size + 1}`;
      state.statements.push({ sql, dryRun });
      const params = (body.configuration?.query?.queryParameters ?? []).map((p) => String(p.parameterValue?.value ?? ""));
      const r = evaluate(sql, params);
      if (typeof r === "object" && "error" in r) return apiError(res, 400, "invalidQuery", r.error);
      const type = statementType(sql);
      if (dryRun) return json(res, 200, jobResource(id, { status: { state: "DONE" }, statistics: { query: { statementType: type, totalBytesProcessed: "0" } } }));
      jobs.set(id, { id, result: r === "hang" ? null : r, hang: r === "hang", cancelled: false });
      return json(res, 200, jobResource(id, { status: { state: "RUNNING" }, statistics: { query: { statementType: type } } }));
    }
    const cancel = new RegExp(`^${base}/jobs/([^/]+)/cancel$`).exec(path);
    if (req.method === "POST" && cancel) {
      const job = jobs.get(cancel[1]!);
      if (!job) return apiError(res, 404, "notFound", `Not found: Job ${opts.project}:${cancel[1]}`);
      job.cancelled = true;
      state.cancelled.push(job.id);
      return json(res, 200, { kind: "bigquery#jobCancelResponse", job: jobResource(job.id, { status: { state: "DONE" } }) });
    }
    const results = new RegExp(`^${base}/queries/([^/]+)$`).exec(path);
    if (req.method === "GET" && results) {
      const job = jobs.get(results[1]!);
      if (!job) return apiError(res, 404, "notFound", `Not found: Job ${opts.project}:${results[1]}`);
      if (job.cancelled) return apiError(res, 400, "stopped", "Job execution was cancelled: User requested cancellation");
      if (job.hang) {
        // Like the real API's server-side wait: hold the poll briefly, then say "not yet".
        await new Promise((r) => setTimeout(r, 150));
        return json(res, 200, { kind: "bigquery#getQueryResultsResponse", jobReference: { projectId: opts.project, jobId: job.id, location: "US" }, jobComplete: false });
      }
      const result = job.result!;
      const start = Number(url.searchParams.get("pageToken") ?? 0);
      const max = Number(url.searchParams.get("maxResults") ?? 100_000);
      const rows = result.rows.slice(start, start + max);
      const next = start + max < result.rows.length ? String(start + max) : undefined;
      return json(res, 200, {
        kind: "bigquery#getQueryResultsResponse", jobReference: { projectId: opts.project, jobId: job.id, location: "US" }, jobComplete: true,
        totalRows: String(result.rows.length), cacheHit: false,
        ...(result.fields.length ? { schema: { fields: result.fields } } : {}),
        ...(rows.length ? { rows: rows.map((r) => ({ f: r.map((v) => ({ v })) })) } : {}),
        ...(next ? { pageToken: next } : {}),
      });
    }
    apiError(res, 404, "notFound", `Not found: ${req.method} ${path}`);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    ...state,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
