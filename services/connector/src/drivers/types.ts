import type { Duplex } from "node:stream";
import type { ColumnMeta, DatabaseConfig, DbType, LoginWarning, SchemaTable } from "@dsb/contracts";

/**
 * Where a driver must dial: the address the policy checked (an IP), so a
 * second DNS lookup cannot rebind it, and the name for TLS verification.
 */
export interface DialTarget {
  /** IP address (or the host itself for SDKs that only take URLs, see address policy). */
  address: string;
  /** The host the user typed, for TLS servername / SNI and Host headers. */
  hostname: string;
  port: number;
  /**
   * Set when the database sits behind an SSH bastion (`config.ssh`): opens a stream
   * to `hostname:port` through the source's tunnel. The driver must then use it for
   * every connection instead of dialling `address` (see ssh/forwarded-socket.ts).
   */
  forward?: () => Promise<Duplex>;
}

/** A schema's tables as JSON text, and the two fields `buildSchema` derives from them. */
export interface TablesJson {
  tablesJson: string;
  schemas: string[];
  totalRows: number;
}

export interface QueryOptions {
  /** Enforced by the database: read-only transaction/session, ClickHouse readonly. */
  readOnly: boolean;
  /** Statement timeout; the driver cancels on the server when it passes. */
  timeoutMs: number;
  /** Aborted when the client goes away or the timeout fires: cancel on the server. */
  signal: AbortSignal;
  /** Rows per batch the iterator yields (drivers may yield fewer). */
  batchRows: number;
  /**
   * Set when the caller reads at most this many rows in all (≤ batchRows): a
   * driver may fetch them in one go, end the statement, and yield one batch.
   */
  maxRows?: number;
}

/**
 * A running query. `batches` yields rows as arrays in column order with values
 * already mapped to API.md's rules (bigint/decimal → string, dates → ISO, binary → base64).
 * Calling `batches.return()` stops reading, cancels the query if still running,
 * and gives the connection back to its pool.
 */
export interface QueryStream {
  columns: ColumnMeta[];
  batches: AsyncIterator<unknown[][]>;
}

/**
 * A CSV export produced by the server (PostgreSQL's COPY … TO STDOUT): records
 * without a header, `\r\n` record ends, values already in the row path's text.
 */
export interface CsvStream {
  columns: ColumnMeta[];
  /** Fills `page` with the next bytes (`\r\n` record ends; a record may go on in the next page); fewer than its length only at the end. */
  read(page: Buffer): Promise<number>;
  /** True once every byte was read (the statement has ended). */
  done(): boolean;
  /** Records read so far. */
  rowCount(): number;
  /** Cancels the statement and drops the session (nothing when it has ended). */
  close(): Promise<void>;
}

/** `QueryOptions` of a server-side CSV export; `limit` caps the rows exported. */
export type CopyCsvOptions = Omit<QueryOptions, "batchRows" | "maxRows"> & { limit?: number };

/** One pool (or client) for one source config. */
export interface Connection {
  /**
   * Round trip that proves the credentials; returns the server's version string and,
   * where the driver can tell, warnings about a login with more power than reading needs.
   */
  test(): Promise<{ serverVersion: string | null; warnings?: LoginWarning[] }>;
  /** Every user table and view with columns, in a few set-based queries. */
  introspect(): Promise<SchemaTable[]>;
  /**
   * The same tables as JSON text, byte for byte `JSON.stringify(await introspect())`,
   * printed by the database so no row objects are built in between; with what
   * `buildSchema` derives from them. Optional: drivers that have it answer large
   * schemas faster. With `onTable`, each table's JSON text goes there as its row arrives
   * (in order) and `tablesJson` comes back empty.
   */
  introspectJson?(onTable?: (json: string) => void): Promise<TablesJson>;
  query(sql: string, params: readonly unknown[], opts: QueryOptions): Promise<QueryStream>;
  /**
   * Optional capability: the query as CSV made by the server, for streamed CSV
   * exports. Null when this query cannot take that path; the caller uses `query` then.
   */
  copyCsv?(sql: string, params: readonly unknown[], opts: CopyCsvOptions): Promise<CsvStream | null>;
  close(): Promise<void>;
  /** Behind SSH: the bastion's host key fingerprint this connection's tunnel saw. */
  sshHostKeySha256?: () => string | null;
  /** Connections of the pool (open, idle) and checkouts waiting, for ds_pool_* metrics; optional. */
  poolStats?(): { total: number; idle: number; waiting: number };
}

/** The SQL dialect query_config is compiled to. */
export type Dialect = "postgres" | "mysql" | "clickhouse" | "mssql" | "snowflake" | "bigquery" | "mongodb";

export interface Driver<C extends DatabaseConfig = DatabaseConfig> {
  readonly type: DbType;
  readonly dialect: Dialect;
  /**
   * Hosts the address policy must check before `connect` (empty for SDKs
   * with a fixed cloud endpoint). Includes hosts inside a connection_string. Asynchronous
   * where finding them takes DNS (MongoDB's `mongodb+srv://` SRV records).
   */
  targets(config: C): { hostname: string; port: number }[] | Promise<{ hostname: string; port: number }[]>;
  /** Opens a pool. Must not dial anything but the checked `targets`. */
  connect(config: C, targets: DialTarget[]): Promise<Connection>;
}

/** Error from a driver, already free of secrets; `kind` picks the API code. */
export class DriverError extends Error {
  constructor(readonly kind: "connection" | "query" | "timeout" | "cancelled", message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DriverError";
  }
}
