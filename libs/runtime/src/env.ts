import { z } from "zod";

const bool = z
  .union([z.boolean(), z.string()])
  .transform((v, ctx) => {
    if (typeof v === "boolean") return v;
    const s = v.trim().toLowerCase();
    if (["1", "true", "yes", "on"].includes(s)) return true;
    if (["0", "false", "no", "off", ""].includes(s)) return false;
    ctx.addIssue({ code: "custom", message: `expected true or false, got "${v}"` });
    return z.NEVER;
  });
const optionalString = z.string().trim().optional().transform((v) => (v ? v : undefined));

/** Every environment variable the system reads, with defaults. Parsed once at start-up. */
export const EnvSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().default("0.0.0.0"),
  JWT_SECRET: optionalString,
  JWT_JWKS_URL: optionalString.pipe(z.string().url().optional()),
  JWT_TENANT_CLAIM: z.string().min(1).default("tenant_id"),
  JWT_ISSUER: optionalString,
  JWT_AUDIENCE: optionalString,
  /** Refuse tokens without `exp` (they would never expire); false accepts them. */
  JWT_REQUIRE_EXP: bool.default(true),
  ENCRYPTION_KEY: optionalString,
  DATA_DIR: z.string().min(1).default("./.data"),
  DATABASE_URL: optionalString,
  NATS_URL: optionalString,
  NATS_USER: optionalString,
  NATS_PASS: optionalString,
  NATS_TOKEN: optionalString,
  MAX_UPLOAD_BYTES: z.coerce.number().int().min(1).default(1024 ** 3),
  /** Largest JSON request body the gateway reads (uploads have MAX_UPLOAD_BYTES). */
  MAX_BODY_BYTES: z.coerce.number().int().min(1024).default(1024 ** 2),
  ALLOW_PRIVATE_HOSTS: bool.optional(),
  LOG_LEVEL: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
  /** Largest `limit` a JSON query result may ask for. */
  QUERY_MAX_ROWS: z.coerce.number().int().min(1).default(100_000),
  QUERY_DEFAULT_TIMEOUT_MS: z.coerce.number().int().min(100).default(30_000),
  /** How long a bus request waits for a reply (the query timeout is added for queries). */
  BUS_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  /** Prefix for every bus subject, to share one NATS between deployments. */
  BUS_NAMESPACE: optionalString.pipe(z.string().regex(/^[A-Za-z0-9_-]+$/, "letters, digits, _ and - only").optional()),
  /** Gateway: query history entries kept for retry while the catalog cannot record them; past it the oldest are dropped (and counted). Default: gateway/src/history.ts HISTORY_DEFAULTS (50,000). */
  HISTORY_QUEUE_MAX: z.coerce.number().int().min(1).optional(),
  /** Gateway: the same bound in bytes the entries take (default 64 MiB). */
  HISTORY_QUEUE_MAX_BYTES: z.coerce.number().int().min(1024).optional(),
  /** Identifies this process among replicas (cursor subjects, logs). */
  REPLICA_ID: optionalString,
  /** Bytes of datasets ingestion keeps in memory across queries. */
  DATASET_CACHE_BYTES: z.coerce.number().int().min(0).default(512 * 1024 ** 2),
  /** Connector: most pools open at once across all sources. */
  MAX_POOLS: z.coerce.number().int().min(1).default(200),
  /** Ingestion: an upload no active source references is removed once it is this old (must exceed the longest parse). */
  UPLOAD_SWEEP_GRACE_MS: z.coerce.number().int().min(0).default(60 * 60_000),
  /** Ingestion: how often each replica sweeps stale uploads (jittered ±50 %). */
  UPLOAD_SWEEP_INTERVAL_MS: z.coerce.number().int().min(100).default(10 * 60_000),
  /** Catalog: seconds between health checks of a healthy database source (a source's health_check may override). */
  HEALTH_CHECK_INTERVAL_S: z.coerce.number().min(0.1).default(120),
  /** A check that answers slower than this marks the source degraded. */
  HEALTH_DEGRADED_MS: z.coerce.number().int().min(1).default(2000),
  /** Connect plus trivial query must finish within this. */
  HEALTH_CHECK_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  /** Checks in flight at once (a hanging source holds one slot, never the others). */
  HEALTH_CHECK_CONCURRENCY: z.coerce.number().int().min(1).default(10),
  /** After a failure the next check comes after this, doubling per failure (with jitter) … */
  HEALTH_BACKOFF_BASE_S: z.coerce.number().min(0.05).default(30),
  /** … up to this. */
  HEALTH_BACKOFF_MAX_S: z.coerce.number().min(0.05).default(900),
  /** Distributed mode: lifetime of the scheduler lease (JetStream KV key); a dead scheduler is replaced within it. */
  HEALTH_LEASE_TTL_S: z.coerce.number().min(1).default(15),
  /** false: no scheduled checks (POST …/test still checks). */
  HEALTH_MONITORING: bool.default(true),
  /** Query result cache TTL when neither the request nor the source sets one; 0: off. */
  QUERY_CACHE_TTL_S: z.coerce.number().int().min(0).max(7 * 86_400).default(0),
  /** Results larger than this (bytes of JSON) are never cached. */
  QUERY_CACHE_MAX_BYTES: z.coerce.number().int().min(0).default(2 * 1024 ** 2),
  /** Bytes the cache holds: the embedded LRU, or the JetStream KV bucket (distributed). */
  QUERY_CACHE_BYTES: z.coerce.number().int().min(1024).default(64 * 1024 ** 2),
  /** Heap growth (MiB) after which an idle process runs one full GC, returning the memory a burst of load left behind (libs/runtime/src/idle-gc.ts); 0: off. */
  IDLE_GC_MIB: z.coerce.number().min(0).default(16),
  /** Catalog, connector, ingestion: port of their Prometheus /metrics; unset: not served (embedded: the gateway's /metrics). */
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
});

export type Env = z.infer<typeof EnvSchema> & {
  /** No NATS_URL: everything runs in one process. */
  embedded: boolean;
  allowPrivateHosts: boolean;
};

export class EnvError extends Error {}

/** Parses the environment; a bad value throws one sentence per variable. */
export function parseEnv(source: Record<string, string | undefined> = process.env): Env {
  const r = EnvSchema.safeParse(source);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`);
    throw new EnvError(`Invalid configuration — fix these environment variables: ${lines.join("; ")}`);
  }
  const embedded = !r.data.NATS_URL;
  return { ...r.data, embedded, allowPrivateHosts: r.data.ALLOW_PRIVATE_HOSTS ?? embedded };
}
