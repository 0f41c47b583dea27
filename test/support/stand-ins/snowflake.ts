import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";

/**
 * A local stand-in for Snowflake's REST protocol, enough for the real snowflake-sdk
 * pointed at it through `accessUrl`: login-request (password checked), query-request
 * (rowtype + JSON rowset, `?` bindings), abort-request, session delete, telemetry.
 * It is not a SQL engine: it answers the statement shapes the driver tests send over
 * one in-memory table (the suite's DSB_SUITE_ITEMS) and its view; SYSTEM$WAIT holds
 * the query-request open until an abort-request for it arrives.
 */
export interface SnowflakeStandIn {
  url: string;
  /** Every request as `METHOD /path`. */
  requests: string[];
  /** sqlText of every query-request. */
  statements: string[];
  /** Bodies of abort-requests. */
  aborts: unknown[];
  /** Bodies of login-requests with the password removed. */
  logins: Record<string, unknown>[];
  close(): Promise<void>;
}

interface RowType { name: string; type: string; scale?: number; precision?: number; nullable: boolean; length?: number }
type Cell = string | null;

const ITEMS_TYPE: RowType[] = [
  { name: "ID", type: "fixed", precision: 38, scale: 0, nullable: false },
  { name: "NAME", type: "text", length: 100, nullable: false },
  { name: "AMOUNT", type: "fixed", precision: 12, scale: 2, nullable: true },
  { name: "BIG", type: "fixed", precision: 38, scale: 0, nullable: true },
  { name: "CREATED_AT", type: "timestamp_ntz", scale: 9, nullable: true },
  { name: "FLAG", type: "boolean", nullable: true },
];
const epoch = (iso: string) => `${Date.parse(iso) / 1000}.000000000`;
const ITEMS: Cell[][] = [
  ["1", "alpha", "10.50", "9007199254740993", epoch("2024-01-02T03:04:05Z"), "1"],
  ["2", "beta", null, "2", epoch("2024-02-03T04:05:06Z"), "0"],
  ["3", "gamma", "7.25", "3", null, null],
];
const text = (name: string): RowType => ({ name, type: "text", nullable: true, length: 16777216 });
const TABLES_TYPE: RowType[] = [text("TABLE_SCHEMA"), text("TABLE_NAME"), text("TABLE_TYPE"), { name: "ROW_COUNT", type: "fixed", precision: 38, scale: 0, nullable: true }, text("COMMENT")];
const TABLES: Cell[][] = [["PUBLIC", "DSB_SUITE_ITEMS", "BASE TABLE", "3", "Suite items"], ["PUBLIC", "DSB_SUITE_VIEW", "VIEW", null, null]];
const COLUMNS_TYPE: RowType[] = [text("TABLE_SCHEMA"), text("TABLE_NAME"), text("COLUMN_NAME"), text("DATA_TYPE"), text("IS_NULLABLE"), text("COMMENT"),
  { name: "NUMERIC_PRECISION", type: "fixed", precision: 38, scale: 0, nullable: true }, { name: "NUMERIC_SCALE", type: "fixed", precision: 38, scale: 0, nullable: true },
  { name: "CHARACTER_MAXIMUM_LENGTH", type: "fixed", precision: 38, scale: 0, nullable: true }];
const COLUMNS: Cell[][] = [
  ["PUBLIC", "DSB_SUITE_ITEMS", "ID", "NUMBER", "NO", null, "38", "0", null],
  ["PUBLIC", "DSB_SUITE_ITEMS", "NAME", "TEXT", "NO", "item name", null, null, "100"],
  ["PUBLIC", "DSB_SUITE_ITEMS", "AMOUNT", "NUMBER", "YES", null, "12", "2", null],
  ["PUBLIC", "DSB_SUITE_ITEMS", "BIG", "NUMBER", "YES", null, "38", "0", null],
  ["PUBLIC", "DSB_SUITE_ITEMS", "CREATED_AT", "TIMESTAMP_NTZ", "YES", null, null, null, null],
  ["PUBLIC", "DSB_SUITE_ITEMS", "FLAG", "BOOLEAN", "YES", null, null, null, null],
  ["PUBLIC", "DSB_SUITE_VIEW", "ID", "NUMBER", "YES", null, "38", "0", null],
  ["PUBLIC", "DSB_SUITE_VIEW", "NAME", "TEXT", "YES", null, null, null, "100"],
];
const PK_TYPE: RowType[] = ["created_on", "database_name", "schema_name", "table_name", "column_name", "key_sequence", "constraint_name"].map(text);
const PKS: Cell[][] = [["2024-01-01", "DSB", "PUBLIC", "DSB_SUITE_ITEMS", "ID", "1", "SYS_CONSTRAINT_1"]];

type Answer = { rowtype: RowType[]; rowset: Cell[][] } | { error: { code: string; sqlState: string; message: string } } | "wait";

function answer(sqlText: string, binds: Cell[]): Answer {
  const s = sqlText.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/--[^\n]*/g, " ").replace(/\s+/g, " ").trim();
  if (/SYSTEM\$WAIT/i.test(s)) return "wait";
  if (/^select current_version\(\)$/i.test(s)) return { rowtype: [text("CURRENT_VERSION()")], rowset: [["8.40.1"]] };
  if (/information_schema\.tables/i.test(s)) return { rowtype: TABLES_TYPE, rowset: TABLES };
  if (/information_schema\.columns/i.test(s)) return { rowtype: COLUMNS_TYPE, rowset: COLUMNS };
  if (/^show primary keys/i.test(s)) return { rowtype: PK_TYPE, rowset: PKS };
  if (!/^(select|with)\b/i.test(s)) {
    return { rowtype: [{ name: "number of rows affected", type: "fixed", precision: 38, scale: 0, nullable: false }], rowset: [["0"]] };
  }
  const m = /^select (.+?) from (\S+)(?: where (\w+) = \?)?(?: order by (\w+))?$/i.exec(s);
  if (!m || !/dsb_suite_(items|view)/i.test(m[2]!)) return { error: { code: "002003", sqlState: "42S02", message: `SQL compilation error: stand-in does not know this query: ${s.slice(0, 60)}` } };
  const isView = /dsb_suite_view/i.test(m[2]!);
  const types = isView ? ITEMS_TYPE.slice(0, 2) : ITEMS_TYPE;
  let rows = ITEMS.map((r) => r.slice(0, types.length));
  if (m[3]) {
    const i = types.findIndex((t) => t.name === m[3]!.toUpperCase());
    rows = rows.filter((r) => r[i] === binds[0]);
  }
  if (/^count\(\*\)$/i.test(m[1]!.trim())) return { rowtype: [{ name: "COUNT(*)", type: "fixed", precision: 18, scale: 0, nullable: false }], rowset: [[String(rows.length)]] };
  const idx = m[1]!.split(",").map((c) => types.findIndex((t) => t.name === c.trim().toUpperCase()));
  if (idx.some((i) => i < 0)) return { error: { code: "000904", sqlState: "42000", message: `SQL compilation error: invalid identifier in ${m[1]}` } };
  return { rowtype: idx.map((i) => types[i]!), rowset: rows.map((r) => idx.map((i) => r[i]!)) };
}

export async function startSnowflakeStandIn(opts: { user: string; password: string }): Promise<SnowflakeStandIn> {
  const state = { requests: [] as string[], statements: [] as string[], aborts: [] as unknown[], logins: [] as Record<string, unknown>[] };
  const tokens = new Set<string>();
  const waiting = new Map<string, (aborted: boolean) => void>();
  let seq = 0;
  const json = (res: ServerResponse, body: unknown) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  const fail = (res: ServerResponse, code: string, message: string, data: Record<string, unknown> = {}) => json(res, { data, code, message, success: false });

  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let raw = Buffer.concat(chunks);
    if (req.headers["content-encoding"] === "gzip" && raw.length) raw = gunzipSync(raw);
    const body = raw.length ? (JSON.parse(raw.toString("utf8")) as Record<string, unknown>) : {};
    const url = new URL(req.url ?? "/", "http://stand-in");
    state.requests.push(`${req.method} ${url.pathname}`);

    if (url.pathname === "/session/v1/login-request") {
      const data = (body.data ?? {}) as Record<string, unknown>;
      const { PASSWORD, ...rest } = data;
      state.logins.push(rest);
      if (data.LOGIN_NAME !== opts.user || PASSWORD !== opts.password) {
        return fail(res, "390100", "Incorrect username or password was specified.", { nextAction: "RETRY_LOGIN", authnMethod: "USERNAME_PASSWORD" });
      }
      const token = `session-token-${++seq}`;
      tokens.add(token);
      return json(res, {
        data: {
          token, masterToken: `master-${seq}`, validityInSeconds: 3600, masterValidityInSeconds: 14400, sessionId: seq,
          parameters: [{ name: "TIMEZONE", value: "UTC" }], serverVersion: "8.40.1",
          sessionInfo: { databaseName: "DSB", schemaName: "PUBLIC", warehouseName: "WH", roleName: "READER" },
        },
        code: null, message: null, success: true,
      });
    }
    const token = /Snowflake Token="([^"]+)"/.exec(req.headers.authorization ?? "")?.[1];
    if (!token || !tokens.has(token)) return fail(res, "390112", "Your session has expired. Please login again.");

    if (url.pathname === "/queries/v1/query-request") {
      const sqlText = String(body.sqlText ?? "");
      state.statements.push(sqlText);
      const bindings = (body.bindings ?? {}) as Record<string, { value: Cell }>;
      const binds = Object.keys(bindings).sort((a, b) => Number(a) - Number(b)).map((k) => bindings[k]!.value);
      const queryId = `01b0-${++seq}`;
      const a = answer(sqlText, binds);
      if (a === "wait") {
        const requestId = url.searchParams.get("requestId") ?? "";
        // Snowflake would answer 333334 (still running) after ~45 s; tests abort long before.
        const aborted = await new Promise<boolean>((resolve) => {
          waiting.set(requestId, resolve);
          req.socket.once("close", () => resolve(false));
        });
        waiting.delete(requestId);
        if (aborted) return fail(res, "000604", "SQL execution canceled", { queryId, sqlState: "57014", errorCode: "000604" });
        return;
      }
      if ("error" in a) return fail(res, a.error.code, a.error.message, { queryId, sqlState: a.error.sqlState, errorCode: a.error.code });
      return json(res, {
        data: {
          parameters: [], rowtype: a.rowtype.map((t) => ({ database: "DSB", schema: "PUBLIC", table: "", byteLength: null, collation: null, ...t })),
          rowset: a.rowset, total: a.rowset.length, returned: a.rowset.length, queryId, queryResultFormat: "json",
          databaseProvider: null, finalDatabaseName: "DSB", finalSchemaName: "PUBLIC", finalWarehouseName: "WH", finalRoleName: "READER",
          numberOfBinds: binds.length, arrayBindSupported: false, statementTypeId: /^\s*(select|with)/i.test(sqlText) ? 4096 : 12544, version: 1,
        },
        code: null, message: null, success: true,
      });
    }
    if (url.pathname === "/queries/v1/abort-request" || /^\/queries\/[^/]+\/abort-request$/.test(url.pathname)) {
      state.aborts.push(body);
      const requestId = String(body.requestId ?? "");
      waiting.get(requestId)?.(true);
      return json(res, { data: null, code: null, message: null, success: true });
    }
    if (url.pathname === "/session" && url.searchParams.get("delete") === "true") {
      tokens.delete(token);
      return json(res, { data: null, code: null, message: null, success: true });
    }
    // telemetry/send, heartbeat and anything else the SDK may send.
    return json(res, { data: {}, code: null, message: null, success: true });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    ...state,
    close: () => new Promise<void>((r) => { for (const w of waiting.values()) w(false); server.closeAllConnections(); server.close(() => r()); }),
  };
}
