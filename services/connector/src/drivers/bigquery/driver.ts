import { BigQuery, type Job } from "@google-cloud/bigquery";
import type { SchemaTable } from "@dsb/contracts";
import type { Connection, Driver, QueryOptions, QueryStream } from "../types.ts";
import { DriverError } from "../types.ts";
import { bigqueryOptions, bigqueryTarget, serviceAccount, type BigqueryConfig } from "./config.ts";
import { assembleDataset, datasetSchemaSql } from "./introspect.ts";
import { bigqueryParamType, bigqueryTypeName, bigqueryValue, type BqField } from "./types.ts";

interface ApiErrorLike { code?: number | string; message?: string; errors?: { reason?: string; message?: string }[] }

/** Maps SDK/REST errors; `phase` decides whether 403/404 mean "cannot connect" or "this query failed". */
export function bigqueryError(err: unknown, phase: "connect" | "query", secrets: readonly string[]): DriverError {
  if (err instanceof DriverError) return err;
  const e = (err ?? {}) as ApiErrorLike;
  const raw = e.message ?? String(err);
  let out: DriverError;
  if (e.code === 401) {
    out = new DriverError("connection", "BigQuery rejected the credentials: check the service-account key (client_email, private_key) and that the key and account are enabled.");
  } else if (e.code === "ECONNREFUSED" || e.code === "ENOTFOUND" || /ECONNREFUSED|ENOTFOUND|EAI_AGAIN/.test(raw)) {
    out = new DriverError("connection", `Could not reach the BigQuery API (${/ENOTFOUND|EAI_AGAIN/.test(raw) ? "unknown host" : "connection refused"}): check api_endpoint and the network.`);
  } else if (/DECODER|PEM|private key|asn1|sign/i.test(raw) && typeof e.code !== "number") {
    out = new DriverError("connection", "BigQuery credentials' private_key could not sign a request: paste the key file unchanged.");
  } else if (phase === "connect" && (e.code === 403 || e.code === 404)) {
    out = new DriverError("connection", `BigQuery refused access to the project: ${raw}. Check project_id and grant the account BigQuery Job User and Data Viewer.`);
  } else {
    out = new DriverError("query", raw);
  }
  for (const s of secrets) if (s && out.message.includes(s)) return new DriverError(out.kind, out.message.split(s).join("********"));
  return out;
}

interface Page { rows: { f: { v: unknown }[] }[]; fields: BqField[]; pageToken: string | undefined; complete: boolean }

async function fetchPage(job: Job, maxResults: number, pageToken: string | undefined): Promise<Page> {
  // skipParsing: raw f/v cells; the SDK's own parsing turns INT64 beyond 2^53 into errors.
  // skipParsing is honoured by the SDK but missing from its option types.
  const getResults = job.getQueryResults.bind(job) as unknown as (o: object) => Promise<[unknown, unknown, Record<string, unknown>]>;
  const res = await getResults({ maxResults, pageToken, autoPaginate: false, skipParsing: true });
  const resp = res[2] ?? {};
  return {
    rows: (resp.rows as Page["rows"] | undefined) ?? [],
    fields: ((resp.schema as { fields?: BqField[] } | undefined)?.fields) ?? [],
    pageToken: (resp.pageToken as string | undefined) || undefined,
    complete: resp.jobComplete !== false,
  };
}

const mapRow = (fields: BqField[], r: { f: { v: unknown }[] }) => fields.map((f, i) => bigqueryValue(f, r.f[i]?.v));

class BigqueryConnection implements Connection {
  private readonly bq: BigQuery;
  private readonly secrets: string[];
  private closed = false;

  constructor(private readonly config: BigqueryConfig) {
    this.bq = new BigQuery(bigqueryOptions(config));
    this.secrets = [serviceAccount(config).private_key];
  }

  private check() {
    if (this.closed) throw new DriverError("connection", "This BigQuery connection was closed; reconnect the source.");
  }

  /** Dry run: proves the credentials and jobs.create permission, reads the statement type, costs nothing. */
  private async dryRun(sql: string, params: readonly unknown[], phase: "connect" | "query") {
    try {
      const [job] = await this.bq.createQueryJob({ query: sql, useLegacySql: false, dryRun: true, ...this.params(params) });
      const stats = (job.metadata as { statistics?: { query?: { statementType?: string } } }).statistics;
      return { statementType: stats?.query?.statementType };
    } catch (err) {
      throw bigqueryError(err, phase, this.secrets);
    }
  }

  private params(params: readonly unknown[]) {
    if (!params.length) return {};
    return {
      params: params.map((p) => (typeof p === "bigint" ? p.toString() : p)),
      types: params.map(bigqueryParamType),
    };
  }

  async test() {
    this.check();
    await this.dryRun("SELECT 1", [], "connect");
    return { serverVersion: "BigQuery (REST API v2)" };
  }

  async introspect(): Promise<SchemaTable[]> {
    this.check();
    let datasets: string[];
    if (this.config.dataset) datasets = [this.config.dataset];
    else {
      try {
        const [list] = await this.bq.getDatasets({ autoPaginate: true });
        datasets = list.map((d) => d.id!).filter(Boolean);
      } catch (err) {
        throw bigqueryError(err, "connect", this.secrets);
      }
    }
    const out: SchemaTable[] = [];
    // A handful in flight at once: one query per dataset, never per table.
    for (let i = 0; i < datasets.length; i += 4) {
      const chunk = datasets.slice(i, i + 4);
      const results = await Promise.all(chunk.map(async (ds) => {
        const rows = await this.collect(datasetSchemaSql(this.config.project_id, ds));
        return assembleDataset(ds, rows);
      }));
      for (const r of results) out.push(...r);
    }
    return out;
  }

  private async collect(sql: string): Promise<unknown[][]> {
    const stream = await this.query(sql, [], { readOnly: false, timeoutMs: 120_000, signal: new AbortController().signal, batchRows: 10_000 });
    const rows: unknown[][] = [];
    for (let r = await stream.batches.next(); !r.done; r = await stream.batches.next()) rows.push(...r.value);
    return rows;
  }

  async query(sql: string, params: readonly unknown[], opts: QueryOptions): Promise<QueryStream> {
    this.check();
    if (opts.signal.aborted) throw new DriverError("cancelled", "Query was cancelled before it started");
    if (opts.readOnly) {
      // BigQuery has no read-only transaction: the dry run's statementType is the server's own classification.
      const { statementType } = await this.dryRun(sql, params, "query");
      if (statementType !== "SELECT") {
        throw new DriverError("query", `Read-only query refused: BigQuery classifies this statement as ${statementType ?? "unknown"}, only SELECT runs read-only. Use a source connected with allow_writes: true and read_only: false.`);
      }
    }
    let job: Job;
    try {
      [job] = await this.bq.createQueryJob({
        query: sql, useLegacySql: false, ...this.params(params),
        // Server-side backstop; the timer below cancels sooner.
        jobTimeoutMs: Math.max(opts.timeoutMs, 1000),
      });
    } catch (err) {
      throw bigqueryError(err, "query", this.secrets);
    }
    return runJob(job, opts, this.secrets);
  }

  async close() {
    this.closed = true;
  }
}

/**
 * Polls the job until it completes, then pages through results `batchRows` at a time
 * (getQueryResults pageToken). The timeout and the abort signal call jobs.cancel.
 */
async function runJob(job: Job, opts: QueryOptions, secrets: readonly string[]): Promise<QueryStream> {
  let stopped: DriverError | null = null;
  let done = false;
  let onStop!: (e: DriverError) => void;
  const stopPromise = new Promise<never>((_, reject) => { onStop = reject; });
  stopPromise.catch(() => undefined);
  const cancelJob = () => job.cancel().catch(() => undefined);
  const stop = (e: DriverError) => {
    if (stopped || done) return;
    stopped = e;
    void cancelJob();
    onStop(e);
  };
  const timer = setTimeout(() => stop(new DriverError("timeout", `Query exceeded its ${opts.timeoutMs} ms timeout and the BigQuery job was cancelled. Narrow the query or raise timeout_ms.`)), opts.timeoutMs);
  const onAbort = () => stop(new DriverError("cancelled", "Query was cancelled; the BigQuery job was cancelled."));
  opts.signal.addEventListener("abort", onAbort, { once: true });
  const finish = () => {
    done = true;
    clearTimeout(timer);
    opts.signal.removeEventListener("abort", onAbort);
  };
  const batchRows = Math.max(1, opts.batchRows);
  const get = async (token: string | undefined) => {
    try {
      return await Promise.race([fetchPage(job, batchRows, token), stopPromise]);
    } catch (err) {
      finish();
      throw bigqueryError(err, "query", secrets);
    }
  };

  let page = await get(undefined);
  while (!page.complete) page = await get(undefined);
  const fields = page.fields;
  let pending: unknown[][] = page.rows.map((r) => mapRow(fields, r));
  let token = page.pageToken;
  if (!token && !pending.length) finish();

  const batches: AsyncIterator<unknown[][]> = {
    async next() {
      for (;;) {
        if (pending.length) {
          const batch = pending.splice(0, batchRows);
          return { done: false, value: batch };
        }
        if (!token) { finish(); return { done: true, value: undefined }; }
        const p = await get(token);
        pending = p.rows.map((r) => mapRow(fields, r));
        token = p.pageToken;
      }
    },
    async return() {
      pending = [];
      token = undefined;
      finish();
      return { done: true, value: undefined };
    },
  };
  return { columns: fields.map((f) => ({ name: f.name, type: bigqueryTypeName(f) })), batches };
}

/** BigQuery over @google-cloud/bigquery. connect() builds the client; test() is the first round trip. */
export const bigqueryDriver: Driver<BigqueryConfig> = {
  type: "bigquery",
  dialect: "bigquery",
  targets: (config) => [bigqueryTarget(config)],
  async connect(config) {
    return new BigqueryConnection(config);
  },
};
