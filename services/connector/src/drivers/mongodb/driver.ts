import { MongoClient, MongoServerError, type AggregationCursor, type Db, type Document } from "mongodb";
import type { ColumnMeta, SchemaTable } from "@dsb/contracts";
import { DriverError, type Connection, type DialTarget, type Driver, type QueryOptions, type QueryStream } from "../types.ts";
import { mongoClientSetup, mongoDatabase, mongoTargets, parseMongoUrl, srvTxtOptions, systemResolver, type MongodbConfig, type SrvResolver } from "./config.ts";
import { columnsFromSample, SAMPLE_SIZE } from "./introspect.ts";
import { parseNative, type NativeColumn } from "./native.ts";
import { apiValue, bsonTypeName, commonestType, getPath, type BsonTypeName } from "./values.ts";
import { scrubSecrets } from "../shared/scrub.ts";

/** Read with wrappers kept (int, long and double stay apart), binary and regexes as BSON objects. */
const READ_BSON = { promoteValues: false, promoteBuffers: false, bsonRegExp: true } as const;
/** Collections sampled at once during introspection. */
const SAMPLE_CONCURRENCY = 4;
const MAX_TIME_EXPIRED = 50;
const AUTH_FAILED = 18;

function scrub(message: string, secrets: readonly (string | undefined)[]): string {
  const out = scrubSecrets(message, secrets);
  // A URI that slipped into a message keeps its host but never its credentials.
  return out.replace(/(mongodb(?:\+srv)?:\/\/)[^@/\s]*@/g, "$1********@");
}

/** Columns of a result: the declared ones, or the top-level keys of the first batch in first-seen order. */
function resultColumns(declared: NativeColumn[] | undefined, docs: readonly Document[]): { columns: ColumnMeta[]; paths: NativeColumn[] } {
  let paths = declared;
  if (!paths) {
    const seen = new Set<string>();
    for (const d of docs) for (const k of Object.keys(d)) seen.add(k);
    paths = [...seen].map((k) => ({ name: k, path: k }));
  }
  const columns = paths.map((c) => {
    const counts = new Map<BsonTypeName, number>();
    for (const d of docs) {
      const t = bsonTypeName(c.path === c.name && c.name in d ? d[c.name] : getPath(d, c.path));
      counts.set(t, (counts.get(t) ?? 0) + 1);
    }
    return { name: c.name, type: commonestType(counts) };
  });
  return { columns, paths };
}

const toRows = (paths: readonly NativeColumn[], docs: readonly Document[]): unknown[][] =>
  docs.map((d) => paths.map((c) => apiValue(c.name === c.path && c.name in d ? d[c.name] : getPath(d, c.path))));

class MongoConnection implements Connection {
  private readonly secrets: (string | undefined)[];
  private connected: Promise<void> | null = null;
  private closed = false;

  constructor(private readonly client: MongoClient, private readonly config: MongodbConfig, private readonly dbName: string) {
    const url = config.connection_string ? parseMongoUrl(config.connection_string) : null;
    this.secrets = [config.password, url?.password, config.connection_string];
  }

  private get who(): string {
    const user = this.config.username ?? (this.config.connection_string ? parseMongoUrl(this.config.connection_string).username : undefined);
    return user ? `user '${user}'` : "this client";
  }

  private connectError(err: unknown): DriverError {
    if (err instanceof DriverError) return err;
    const e = err as { code?: number; codeName?: string; message?: string; reason?: { servers?: Map<string, { error?: { message?: string } }> } };
    const where = this.config.host ?? "the hosts in the connection string";
    const detail = e.message ?? String(err);
    if (Number(e.code) === AUTH_FAILED || /authentication failed/i.test(detail))
      return new DriverError("connection", scrub(`MongoDB rejected the login for ${this.who}: Authentication failed. Check username, password and auth_source (the database holding the user, usually admin).`, this.secrets));
    if (/ECONNREFUSED/.test(detail)) return new DriverError("connection", scrub(`Connection refused by ${where}: check host, port and that mongod listens there.`, this.secrets));
    return new DriverError("connection", scrub(`Could not connect to MongoDB at ${where}: ${detail}`, this.secrets));
  }

  private queryError(err: unknown, signal?: AbortSignal): DriverError {
    if (signal?.aborted) return signal.reason instanceof DriverError ? signal.reason : new DriverError("cancelled", "Query was cancelled");
    if (err instanceof DriverError) return err;
    if (err instanceof MongoServerError) {
      // Replies are read with promoteValues off, so `code` may be an Int32 wrapper.
      const code = Number(err.code);
      if (code === MAX_TIME_EXPIRED) return new DriverError("timeout", "Query exceeded its timeout (maxTimeMS) and was stopped by MongoDB");
      if (code === AUTH_FAILED) return this.connectError(err);
      return new DriverError("query", scrub(err.message, this.secrets));
    }
    const e = err as { name?: string; message?: string };
    if (e.name === "MongoServerSelectionError" || e.name === "MongoNetworkError" || e.name === "MongoTopologyClosedError") return this.connectError(err);
    return new DriverError("query", scrub(e.message ?? String(err), this.secrets));
  }

  /** Connects once (the client keeps its own pool); a failed attempt is retried by the next call. */
  private async db(): Promise<Db> {
    if (this.closed) throw new DriverError("connection", "This MongoDB connection was closed; reconnect the source.");
    this.connected ??= this.client.connect().then(() => undefined, (e: unknown) => {
      this.connected = null;
      throw this.connectError(e);
    });
    await this.connected;
    return this.client.db(this.dbName);
  }

  async test(): Promise<{ serverVersion: string | null }> {
    const db = await this.db();
    try {
      const info = await db.command({ buildInfo: 1 });
      return { serverVersion: typeof info.version === "string" ? `MongoDB ${info.version}` : null };
    } catch (e) {
      throw this.queryError(e);
    }
  }

  async introspect(): Promise<SchemaTable[]> {
    const db = await this.db();
    try {
      const infos = (await db.listCollections({}, { nameOnly: false, authorizedCollections: true }).toArray())
        .filter((c) => !c.name.startsWith("system."))
        .sort((a, b) => a.name.localeCompare(b.name));
      const out: SchemaTable[] = new Array(infos.length);
      let next = 0;
      const worker = async () => {
        for (let i = next++; i < infos.length; i = next++) {
          const info = infos[i]!;
          const coll = db.collection(info.name);
          const isView = info.type === "view";
          const table: SchemaTable = { schema: this.dbName, name: info.name, kind: isView ? "view" : "collection", rowCount: null, columns: [] };
          // One broken view or unsupported collection (a time series without count) must not hide the others.
          try {
            table.columns = columnsFromSample(await coll.aggregate([{ $sample: { size: SAMPLE_SIZE } }], { ...READ_BSON, maxTimeMS: 60_000 }).toArray());
          } catch (e) {
            if (!(e instanceof MongoServerError)) throw e;
            table.comment = scrub(`Could not sample this ${isView ? "view" : "collection"}: ${e.message}`, this.secrets);
          }
          if (!isView) table.rowCount = await coll.estimatedDocumentCount({ maxTimeMS: 60_000 }).catch((e: unknown) => {
            if (e instanceof MongoServerError) return null;
            throw e;
          });
          out[i] = table;
        }
      };
      await Promise.all(Array.from({ length: Math.min(SAMPLE_CONCURRENCY, infos.length) }, worker));
      return out;
    } catch (e) {
      throw this.queryError(e);
    }
  }

  async query(text: string, params: readonly unknown[], opts: QueryOptions): Promise<QueryStream> {
    let native;
    try {
      native = parseNative(text);
    } catch (e) {
      throw new DriverError("query", (e as Error).message);
    }
    if (params.length) throw new DriverError("query", "MongoDB pipelines take no params; write the values into the pipeline");
    if (opts.signal.aborted) throw this.queryError(null, opts.signal);
    const db = await this.db();
    const pipeline = opts.maxRows ? [...native.pipeline, { $limit: opts.maxRows }] : native.pipeline;
    // Read-only by construction: the only command a query sends is aggregate (then getMore, killCursors).
    const cursor: AggregationCursor<Document> = db.collection(native.collection).aggregate(pipeline, {
      ...READ_BSON, maxTimeMS: opts.timeoutMs, batchSize: opts.batchRows, signal: opts.signal,
    });
    const onAbort = () => { void cursor.close().catch(() => undefined); };
    opts.signal.addEventListener("abort", onAbort, { once: true });
    const stop = async () => {
      opts.signal.removeEventListener("abort", onAbort);
      await cursor.close().catch(() => undefined);
    };
    let first: Document[];
    try {
      await cursor.hasNext();
      first = cursor.readBufferedDocuments(opts.batchRows);
    } catch (e) {
      await stop();
      throw this.queryError(e, opts.signal);
    }
    const { columns, paths } = resultColumns(native.columns, first);
    const batchRows = opts.batchRows;
    const self = this;
    async function* batches(): AsyncGenerator<unknown[][]> {
      try {
        if (first.length) yield toRows(paths, first);
        while (true) {
          let docs: Document[];
          try {
            if (cursor.bufferedCount() === 0 && !(await cursor.hasNext())) return;
            docs = cursor.readBufferedDocuments(batchRows);
          } catch (e) {
            throw self.queryError(e, opts.signal);
          }
          if (docs.length) yield toRows(paths, docs);
        }
      } finally {
        await stop();
      }
    }
    const gen = batches();
    // A generator's finally does not run when return() comes before the first next(): close the cursor here too.
    return { columns, batches: { next: () => gen.next(), return: async () => { await stop(); return gen.return(undefined); } } };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.close().catch(() => undefined);
  }
}

/**
 * The MongoDB driver: the official `mongodb` client, dialling only the hosts the address policy
 * checked (pinned lookup; SRV names resolved and checked here). Queries are aggregation
 * pipelines and nothing else; see docs/mongodb.md.
 */
export function createMongodbDriver(resolver: SrvResolver = systemResolver): Driver<MongodbConfig> {
  return {
    type: "mongodb",
    dialect: "mongodb",
    targets: (config) => mongoTargets(config, resolver),
    async connect(config: MongodbConfig, targets: DialTarget[]): Promise<Connection> {
      const url = config.connection_string ? parseMongoUrl(config.connection_string) : null;
      const txt = url?.srv ? await srvTxtOptions(url.hosts[0]!.hostname, resolver) : {};
      const setup = mongoClientSetup(config, targets, txt);
      return new MongoConnection(new MongoClient(setup.url, setup.options), config, mongoDatabase(config));
    },
  };
}

export const mongodbDriver = createMongodbDriver();
