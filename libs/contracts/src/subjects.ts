import { z } from "zod";
import { DatabaseConfigSchema } from "./database.ts";
import { LoginWarningSchema } from "./login-warning.ts";
import { ActorSchema, DataSourceSchema, NewSourceSchema, FILE_FORMATS, SourcePatchSchema } from "./source.ts";
import { CheckResultSchema, HEALTH_STATUSES, HealthCheckSchema, HealthCountsSchema, HealthSummarySchema, SourceHealthSchema } from "./health.ts";
import { SchemaChangeSchema, SourceSchemaSchema } from "./schema.ts";
import { QueryStatsSchema, SourceStatsSchema } from "./stats.ts";
import { CollectionNameSchema, CursorRequestSchema, HistoryEntrySchema, HISTORY_STATUS, PipelineSchema, QueryConfigSchema, QueryPageSchema } from "./query.ts";

const Id = z.string().min(1).max(128);
const Page = { limit: z.number().int().min(1).max(500).default(50), cursor: z.string().max(512).optional() };

/** One query for the history: who ran it and what happened. */
const HistoryRecordSchema = z.object({ actor: ActorSchema, entry: z.object({
  /** Chosen by the caller so it can answer before the write lands; generated when absent. */
  id: z.string().uuid().optional(),
  data_source_id: Id, query: z.string().nullable(), query_config: z.record(z.string(), z.unknown()).nullable(),
  natural_language_query: z.string().nullable(), status: z.enum(HISTORY_STATUS), error: z.string().nullable(),
  result_count: z.number().int().nullable(), execution_time_ms: z.number().int().nullable(),
  /** Answered from the query result cache (stored in data_queries.cached, migration 4). */
  cached: z.boolean().optional() }) });

/** Most history records one `catalog.history.record_batch` carries. */
export const HISTORY_BATCH_MAX = 200;

/**
 * Which services may call a subject: exactly those whose code calls it (test/deploy/bus-callers.test.ts
 * checks both ways). Enforced by NATS permissions in deploy/nats.conf.
 */
export type Caller = "gateway" | "catalog" | "connector" | "ingestion";

interface SubjectDef {
  request: z.ZodType; reply: z.ZodType; callers: readonly Caller[]; description: string;
  /**
   * Served by every replica without a queue group; only a replica with something to say answers,
   * the others stay silent. The caller takes the first answer (`bus.requestFirst`), none within
   * its timeout meaning "nobody has it".
   */
  fanout?: true;
}
const def = <D extends SubjectDef>(d: D) => d;

/**
 * Every request-reply subject of the bus. Both sides validate against these schemas.
 * Subjects ending in `.*` are served per replica (the `*` is the replica id).
 */
export const SUBJECTS = {
  // catalog: owns data_sources, data_queries and the encryption key
  "catalog.source.create": def({ callers: ["gateway"], description: "Encrypt secrets and store a new source",
    request: z.object({ actor: ActorSchema, source: NewSourceSchema,
      /** false: the reply's `source.schema` is null (the caller sent it; a schema of thousands of tables is megabytes). */
      echo: z.boolean().default(true) }),
    reply: z.object({ source: DataSourceSchema }) }),
  "catalog.source.get": def({ callers: ["gateway", "connector"], description: "One active source of the actor's tenant (redacted)",
    request: z.object({ actor: ActorSchema, id: Id }),
    /** `config_version`: the version catalog.config.resolve reports (database sources), for callers that cache by it. */
    reply: z.object({ source: DataSourceSchema, config_version: z.string().nullable().optional() }) }),
  "catalog.source.list": def({ callers: ["gateway"], description: "Active sources of the tenant, newest first",
    request: z.object({ actor: ActorSchema, type: z.enum(["file", "database"]).optional(), ...Page,
      /** Leave `schema` out (null): a list of sources with 5,000-table schemas is megabytes. */
      summary: z.boolean().default(false) }),
    reply: z.object({ sources: z.array(DataSourceSchema), next_cursor: z.string().nullable() }) }),
  "catalog.source.delete": def({ callers: ["gateway"], description: "Soft delete (owner or admin) and publish catalog.events.source.deleted",
    request: z.object({ actor: ActorSchema, id: Id }), reply: z.object({ source: DataSourceSchema }) }),
  "catalog.source.update": def({ callers: ["gateway"], description: "PATCH a source (owner or admin): a changed config is tested via connector.test, re-encrypted and stored; publishes catalog.events.source.changed",
    request: z.object({ actor: ActorSchema, id: Id, patch: SourcePatchSchema }),
    /** `warnings`: those of the connection test of a changed config (as connect), else empty. */
    reply: z.object({ source: DataSourceSchema, warnings: z.array(LoginWarningSchema).default([]) }) }),
  "catalog.health.test": def({ callers: ["gateway"], description: "Check a stored source now (connector.health.check) and record the check in its health",
    request: z.object({ actor: ActorSchema, id: Id }), reply: z.object({ check: CheckResultSchema, health: SourceHealthSchema }) }),
  "catalog.health.get": def({ callers: ["gateway"], description: "Health of one database source and its last checks, newest first",
    request: z.object({ actor: ActorSchema, id: Id }), reply: z.object({ health: SourceHealthSchema, checks: z.array(HealthCheckSchema) }) }),
  "catalog.health.list": def({ callers: ["gateway"], description: "Health of every active database source of the tenant, worst first",
    request: z.object({ actor: ActorSchema }), reply: z.object({ counts: HealthCountsSchema, sources: z.array(HealthSummarySchema) }) }),
  "catalog.schema.put": def({ callers: ["connector"], description: "Store a fresh schema; reply lists what changed",
    request: z.object({ actor: ActorSchema, id: Id, schema: SourceSchemaSchema,
      /** false: the reply leaves out `schema` (the caller holds it; a schema of thousands of tables is megabytes). */
      echo: z.boolean().default(true) }),
    reply: z.object({ schema: SourceSchemaSchema.optional(), changes: z.array(SchemaChangeSchema) }) }),
  "catalog.schema.touch": def({ callers: ["connector"], description: "Refresh a stored schema whose tables are unchanged: only last_updated is written; stored:false means send it with catalog.schema.put",
    request: z.object({ actor: ActorSchema, id: Id,
      /** base64url SHA-256 of `JSON.stringify(schema.tables)` of the fresh schema (schemas and total_rows follow from the tables). */
      tables_sha256: z.string().min(1).max(128),
      last_updated: z.string() }),
    reply: z.object({ stored: z.boolean() }) }),
  "catalog.config.resolve": def({ callers: ["connector"], description: "Decrypted connection config of a source (connector only)",
    request: z.object({ tenant_id: z.string().min(1), id: Id }),
    reply: z.object({ id: Id, db_type: z.string(), config: z.record(z.string(), z.unknown()), version: z.string() }) }),
  "catalog.history.record_batch": def({ callers: ["gateway"], description: "Append several queries to the history in one statement (the gateway batches a burst)",
    request: z.object({ records: z.array(HistoryRecordSchema).min(1).max(HISTORY_BATCH_MAX) }),
    /** Per record, in order: its id, or null when its source is gone (deleted or another tenant's). */
    reply: z.object({ ids: z.array(Id.nullable()) }) }),
  "catalog.files.referenced": def({ callers: ["ingestion"], description: "Which of these upload keys an active file source references (stale-upload sweep); the tenant is the key's first segment",
    request: z.object({ keys: z.array(z.string().min(1).max(1024)).max(1000) }), reply: z.object({ referenced: z.array(z.string()) }) }),
  "catalog.stats.source": def({ callers: ["gateway"], description: "Query analytics of one source from its history since a time (one set-based query)",
    request: z.object({ actor: ActorSchema, id: Id, since: z.string().datetime({ offset: true }) }), reply: z.object({ stats: QueryStatsSchema }) }),
  "catalog.stats.tenant": def({ callers: ["gateway"], description: "Query totals of every active source of the tenant since a time",
    request: z.object({ actor: ActorSchema, since: z.string().datetime({ offset: true }) }), reply: z.object({ sources: z.array(SourceStatsSchema) }) }),
  "catalog.history.list": def({ callers: ["gateway"], description: "Query history of one source, newest first",
    request: z.object({ actor: ActorSchema, data_source_id: Id, ...Page }),
    reply: z.object({ queries: z.array(HistoryEntrySchema), next_cursor: z.string().nullable() }) }),

  // connector: owns drivers, pools, cursors
  "connector.test": def({ callers: ["gateway", "catalog"], description: "Test a config; stores nothing",
    request: z.object({ config: DatabaseConfigSchema }),
    reply: z.object({ message: z.string(), latency_ms: z.number(), server_version: z.string().nullable(),
      /** The login works but can do more than read data (superuser, server files); empty when nothing to say. */
      warnings: z.array(LoginWarningSchema).default([]),
      /** The SSH server's host key fingerprint the test saw (configs with `ssh`): pinned on connect. */
      ssh_host_key_sha256: z.string().optional() }) }),
  "connector.health.check": def({ callers: ["catalog"], description: "Health check of a stored source: connect and a trivial query within timeout_ms. A failing source is a reply with ok:false; an error reply means the check did not run",
    request: z.object({ tenant_id: z.string().min(1), id: Id, timeout_ms: z.number().int().min(100).max(600_000) }), reply: CheckResultSchema }),
  "connector.introspect": def({ callers: ["gateway"], description: "Live schema of a stored source, or of a config being connected; with `store`, also stored via catalog.schema.put",
    request: z.object({ tenant_id: z.string().min(1), id: Id.optional(), config: DatabaseConfigSchema.optional(),
      /** Store the fresh schema of source `id` on behalf of this actor (one bus crossing of the schema less than the caller storing it). */
      store: z.object({ actor: ActorSchema }).optional(),
      /**
       * With `id`: reply `{gzip: true}` with an attachment, the gzip of this text followed by the reply's
       * JSON after its opening brace, so a caller can forward it as a `Content-Encoding: gzip` body
       * (`{"success":true,` makes the REST body) without decompressing megabytes. Tables printed as
       * JSON by the database only (PostgreSQL); other drivers reply as usual.
       */
      gzip_head: z.string().max(64).optional() }),
    /** `changes` is set when the schema was stored. */
    reply: z.union([
      z.object({ schema: SourceSchemaSchema, changes: z.array(SchemaChangeSchema).optional() }),
      z.object({ gzip: z.literal(true) }),
    ]) }),
  "connector.query": def({ callers: ["gateway"], description: "Run sql or query_config on a stored source; first page, cursor for the rest",
    request: z.object({
      tenant_id: z.string().min(1), id: Id,
      /** The config version the caller saw (catalog.source.get): a connector holding another version's config reloads it. */
      config_version: z.string().optional(),
      sql: z.string().optional(), params: z.array(z.unknown()).optional(), query_config: QueryConfigSchema.optional(),
      /** MongoDB: a native aggregation pipeline on a collection, in place of sql. */
      collection: CollectionNameSchema.optional(), pipeline: PipelineSchema.optional(),
      /** Row cap; absent when streaming an export. */
      limit: z.number().int().min(1).optional(),
      timeout_ms: z.number().int().min(1),
      read_only: z.boolean().default(true),
      /** Keep a cursor open instead of cutting at `limit`. */
      stream: z.boolean().default(false),
      /**
       * `csv`: a streamed CSV export; a source that can produce CSV natively answers with `csv` pages.
       * `ndjson`: a streamed NDJSON export; the connector writes the lines (attached bytes), so the
       * gateway passes them through instead of decoding rows and encoding them again.
       */
      format: z.enum(["rows", "csv", "ndjson"]).optional(),
      /** The gateway's id of this query: `gateway.events.query.cancelled` with it stops the query. */
      query_id: z.string().uuid().optional(),
    }),
    reply: QueryPageSchema }),
  "connector.cursor.*": def({ callers: ["gateway"], description: "Next page of, or close, a cursor held by this connector replica",
    request: CursorRequestSchema, reply: QueryPageSchema }),

  // ingestion: owns uploaded files and datasets
  "ingestion.parse": def({ callers: ["gateway"], description: "Sniff, parse and type a stored upload; write its dataset",
    request: z.object({
      tenant_id: z.string().min(1), key: z.string().min(1), filename: z.string(), size: z.number().int().min(0),
      // Set when the upload is still being stored: the id to follow it with (BlobStore.follow); size is then 0.
      live: z.string().min(1).optional(),
    }),
    reply: z.object({ format: z.enum(FILE_FORMATS), schema: SourceSchemaSchema, dataset_key: z.string(), row_count: z.number().int(), dataset_bytes: z.number().int() }) }),
  "ingestion.discard": def({ callers: ["gateway"], description: "Remove an upload and its dataset (failed connect, deleted source)",
    request: z.object({ tenant_id: z.string().min(1), key: z.string().min(1) }), reply: z.object({ removed: z.boolean() }) }),
  "ingestion.query": def({ callers: ["gateway"], description: "Run query_config on a file source's dataset",
    request: z.object({
      tenant_id: z.string().min(1), id: Id, file_path: z.string().min(1), query_config: QueryConfigSchema,
      limit: z.number().int().min(1).optional(), stream: z.boolean().default(false),
    }),
    reply: QueryPageSchema }),
  "ingestion.cursor.*": def({ callers: ["gateway"], description: "Next page of, or close, a cursor held by this ingestion replica",
    request: CursorRequestSchema, reply: QueryPageSchema }),

  // gateway: owns query ids
  "gateway.query.cancel": def({ callers: ["gateway"], fanout: true,
    description: "Cancel a running query by id; every gateway replica hears it, the one running the query answers (NOT_FOUND for another tenant's, FORBIDDEN for another user's unless admin)",
    request: z.object({ actor: ActorSchema, query_id: z.string().min(1).max(128) }),
    reply: z.object({ cancelled: z.literal(true) }) }),
} as const;

/** Subjects served by every replica of their service, without a queue group (see `fanout`). */
export type FanoutSubject = { [S in keyof typeof SUBJECTS]: (typeof SUBJECTS)[S] extends { fanout: true } ? S : never }[keyof typeof SUBJECTS];

export type SubjectName = keyof typeof SUBJECTS;
export type RequestOf<S extends SubjectName> = z.input<(typeof SUBJECTS)[S]["request"]>;
export type ParsedRequestOf<S extends SubjectName> = z.output<(typeof SUBJECTS)[S]["request"]>;
export type ReplyOf<S extends SubjectName> = z.output<(typeof SUBJECTS)[S]["reply"]>;
export type ReplyInputOf<S extends SubjectName> = z.input<(typeof SUBJECTS)[S]["reply"]>;

/** Services, their subjects' common prefix and the queue group replicas share. */
export const SERVICES = {
  catalog: { prefix: "catalog." },
  connector: { prefix: "connector." },
  ingestion: { prefix: "ingestion." },
} as const;
export type ServiceName = keyof typeof SERVICES;

/** Fire-and-forget events (publish/subscribe, every replica hears them). */
export const EVENTS = {
  "catalog.events.source.deleted": z.object({ id: Id, tenant_id: z.string(), type: z.enum(["file", "database"]), file_path: z.string().nullable() }),
  /** A source was PATCHed: caches of it are stale; pools of any config version but `version` are. */
  "catalog.events.source.changed": z.object({ id: Id, tenant_id: z.string(), type: z.enum(["file", "database"]), version: z.string().nullable() }),
  /** A source's health status changed (not sent for checks that leave it as it was). */
  "catalog.events.source.health": z.object({ id: Id, tenant_id: z.string(), status: z.enum(HEALTH_STATUSES), previous: z.enum(HEALTH_STATUSES), checked_at: z.string() }),
  /** A query was cancelled (by id or a client disconnect): the connector replica running it stops it on the database. */
  "gateway.events.query.cancelled": z.object({ query_id: z.string().uuid(), tenant_id: z.string().min(1) }),
} as const;
export type EventName = keyof typeof EVENTS;
export type EventOf<E extends EventName> = z.infer<(typeof EVENTS)[E]>;

/**
 * Who publishes and who hears each event: exactly what the code does (checked like `callers`),
 * turned into NATS permissions by deploy/gen-nats-conf.ts. `satisfies` makes a new event a type error here.
 */
export const EVENT_ROUTES = {
  "catalog.events.source.deleted": { publisher: "catalog", subscribers: ["gateway", "connector", "ingestion"] },
  "catalog.events.source.changed": { publisher: "catalog", subscribers: ["gateway", "connector"] },
  "catalog.events.source.health": { publisher: "catalog", subscribers: [] },
  "gateway.events.query.cancelled": { publisher: "gateway", subscribers: ["connector"] },
} as const satisfies Record<EventName, { publisher: Caller; subscribers: readonly Caller[] }>;

/** The concrete subject of a per-replica subject for one replica. */
export const replicaSubject = (pattern: "connector.cursor.*" | "ingestion.cursor.*", replicaId: string) => pattern.replace("*", replicaId);
