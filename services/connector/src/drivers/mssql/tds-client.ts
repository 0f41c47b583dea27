import { Connection, Request, TYPES } from "tedious";
import type { ConnectionConfiguration } from "tedious";

/** Column metadata as the driver needs it, independent of tedious' internals. */
export interface TdsColumn {
  name: string;
  /** tedious' type name: IntN, DecimalN, NVarChar, DateTime2, ... */
  tdsType: string;
  dataLength?: number | undefined;
  precision?: number | undefined;
  scale?: number | undefined;
}

/** A bound parameter; the driver names them p1..pn so SQL uses @p1..@pn. */
export interface TdsParam {
  name: string;
  value: unknown;
}

export interface TdsHandlers {
  /** Called once per result set, before its rows. */
  columns(cols: TdsColumn[]): void;
  row(values: unknown[]): void;
}

/** A running request: rows arrive through the handlers; `done` settles when the server finishes. */
export interface TdsRequest {
  done: Promise<void>;
  pause(): void;
  resume(): void;
}

/**
 * The seam between the driver and tedious: one physical connection. Errors are
 * raw (tedious' ConnectionError/RequestError shape: `code`, `number`, `message`);
 * the driver maps them.
 */
export interface TdsClient {
  /** Runs a batch (no params) or sp_executesql (params) on this connection; one request at a time. */
  request(sql: string, params: readonly TdsParam[], handlers: TdsHandlers): TdsRequest;
  /** Sends an ATTENTION to stop the running request; its `done` then rejects with code ECANCEL. */
  cancel(): void;
  /** sp_reset_connection: session options, #temp tables and open transactions back to a fresh login's. */
  reset(): Promise<void>;
  close(): Promise<void>;
  /** False once the socket has failed or closed. */
  readonly healthy: boolean;
}

/** Opens one connection; rejects with the raw connection error. */
export type TdsConnect = (config: ConnectionConfiguration) => Promise<TdsClient>;

/** Picks a TDS type for a JS value so @pN parameters keep their meaning. */
function paramType(value: unknown) {
  if (value === null || value === undefined) return TYPES.NVarChar;
  if (typeof value === "boolean") return TYPES.Bit;
  if (typeof value === "bigint") return TYPES.BigInt;
  if (typeof value === "number") return Number.isInteger(value) ? (Math.abs(value) > 2 ** 31 - 1 ? TYPES.BigInt : TYPES.Int) : TYPES.Float;
  if (value instanceof Date) return TYPES.DateTimeOffset;
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return TYPES.VarBinary;
  return TYPES.NVarChar;
}

/** The real TdsClient over tedious' Connection. */
export const tediousConnect: TdsConnect = (config) =>
  new Promise((resolve, reject) => {
    const conn = new Connection(config);
    let healthy = true;
    let connected = false;
    conn.on("error", () => { healthy = false; });
    conn.on("end", () => { healthy = false; });
    conn.connect((err) => {
      if (err) {
        healthy = false;
        conn.close();
        reject(err);
        return;
      }
      connected = true;
      resolve(client);
    });
    const client: TdsClient = {
      get healthy() { return healthy && connected; },
      request(sql, params, handlers) {
        let req!: Request;
        const done = new Promise<void>((res, rej) => {
          req = new Request(sql, (err) => (err ? rej(err) : res()));
        });
        req.on("columnMetadata", (cols) => {
          const list = Array.isArray(cols) ? cols : Object.values(cols);
          handlers.columns(list.map((c) => ({ name: c.colName, tdsType: c.type.name, dataLength: c.dataLength, precision: c.precision, scale: c.scale })));
        });
        req.on("row", (cols) => {
          const list = Array.isArray(cols) ? cols : Object.values(cols);
          handlers.row(list.map((c) => c.value));
        });
        for (const p of params) {
          const v = typeof p.value === "bigint" ? p.value.toString() : p.value;
          req.addParameter(p.name, paramType(p.value), v);
        }
        if (params.length) conn.execSql(req);
        else conn.execSqlBatch(req);
        return { done, pause: () => req.pause(), resume: () => req.resume() };
      },
      cancel() { conn.cancel(); },
      reset() { return new Promise<void>((res, rej) => conn.reset((err) => (err ? rej(err) : res()))); },
      close() {
        healthy = false;
        if ((conn as unknown as { closed?: boolean }).closed) return Promise.resolve();
        return new Promise<void>((res) => {
          conn.once("end", () => res());
          conn.close();
          // 'end' is not emitted twice; do not hang if it already went.
          setTimeout(res, 1000).unref();
        });
      },
    };
  });
