import { z } from "zod";
import { AppError, describeIssues } from "./errors.ts";
import { SourceNameSchema } from "./source.ts";
import { refuseUnknownFields } from "./config-fields.ts";

export const DB_TYPES = ["postgresql", "mysql", "clickhouse", "mssql", "snowflake", "bigquery", "redshift", "mongodb"] as const;
export type DbType = (typeof DB_TYPES)[number];

/** The types whose config may carry `ssh` (a bastion in front of the database). */
export const SSH_DB_TYPES = ["postgresql", "redshift", "mysql", "clickhouse", "mssql"] as const satisfies readonly DbType[];

/** Names the old client sends that mean one of ours. */
export const DB_TYPE_ALIASES: Readonly<Record<string, DbType>> = { postgres: "postgresql", sqlserver: "mssql", mariadb: "mysql", mongo: "mongodb" };

/** Config fields that are secrets: encrypted at rest, redacted in every response. */
export const SENSITIVE_FIELDS = [
  "password", "api_key", "token", "secret_access_key", "connection_string", "credentials", "private_key", "private_key_passphrase",
  "passphrase",
] as const;
/**
 * Config fields holding an object whose own SENSITIVE_FIELDS are secrets too (`ssh.password`,
 * `ssh.private_key`, `ssh.passphrase`): encrypted inside the object with the same markers.
 */
export const NESTED_SECRET_OBJECTS = ["ssh"] as const;
export const REDACTED = "********";

/** libpq's TLS modes, which every driver with an `ssl` field takes (MySQL's names are mapped to them). */
export const SSL_MODES = ["disable", "prefer", "require", "verify-ca", "verify-full"] as const;
export type SslMode = (typeof SSL_MODES)[number];

const SslSchema = z
  .object({
    mode: z.enum(SSL_MODES).default("prefer"),
    ca: z.string().optional(),
    cert: z.string().optional(),
    key: z.string().optional(),
  })
  .optional();

const port = (d: number) => z.coerce.number().int().min(1).max(65535).default(d);
const hostField = z.string().trim().min(1, "host is required").max(255);

/** OpenSSH's host key fingerprint form: `SHA256:` and 43 characters of unpadded base64. */
export const SSH_FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;

/**
 * An SSH bastion in front of the database: the database's `host` is then reached from the SSH
 * server. `host_key_sha256` pins the server's key; left out, the first successful test records it.
 */
export const SshSchema = z.object({
  host: hostField,
  port: port(22),
  username: z.string().trim().min(1, "ssh.username is required").max(255),
  password: z.string().max(4096).optional(),
  /** An OpenSSH or PEM private key (ed25519, ecdsa, rsa), encrypted with `passphrase` when it is. */
  private_key: z.string().max(16_384).optional(),
  passphrase: z.string().max(4096).optional(),
  host_key_sha256: z.string().trim().regex(SSH_FINGERPRINT, "host_key_sha256 must be OpenSSH's fingerprint form, SHA256: and 43 base64 characters (ssh-keygen -lf <host key>.pub)").optional(),
}).strict().superRefine((s, ctx) => {
  if (!s.password && !s.private_key) ctx.addIssue({ code: "custom", path: ["password"], message: "ssh needs a password or a private_key" });
});
export type SshConfig = z.infer<typeof SshSchema>;

/**
 * The config with the SSH host key a successful test saw pinned (trust on first use),
 * so every later connection requires that key. A key already given is kept.
 */
export function pinSshHostKey<C extends DatabaseConfig>(config: C, seen: string | undefined): C {
  if (!seen || !("ssh" in config) || !config.ssh || config.ssh.host_key_sha256) return config;
  return { ...config, ssh: { ...config.ssh, host_key_sha256: seen } };
}

/** Fields every server database shares. `allow_writes` lets queries opt out of read-only. */
const common = {
  // A blank name means "none" (the default name), as the old client sends it.
  name: z.preprocess((v) => (typeof v === "string" && v.trim() === "" ? undefined : v), SourceNameSchema.optional()),
  allow_writes: z.boolean().default(false),
};
const discrete = {
  host: hostField.optional(),
  database: z.string().max(255).optional(),
  username: z.string().max(255).optional(),
  password: z.string().max(4096).optional(),
  ssl: SslSchema,
  connection_string: z.string().max(8192).optional(),
  ssh: SshSchema.optional(),
};
const needsHost = <T extends { host?: string | undefined; connection_string?: string | undefined }>(c: T, ctx: z.RefinementCtx) => {
  if (!c.host && !c.connection_string) ctx.addIssue({ code: "custom", path: ["host"], message: "host (or connection_string) is required" });
};

export const PostgresConfigSchema = z.object({ type: z.literal("postgresql"), port: port(5432), ...common, ...discrete }).superRefine(needsHost);
export const RedshiftConfigSchema = z.object({ type: z.literal("redshift"), port: port(5439), ...common, ...discrete }).superRefine(needsHost);
export const MysqlConfigSchema = z.object({ type: z.literal("mysql"), port: port(3306), ...common, ...discrete }).superRefine(needsHost);
export const MssqlConfigSchema = z
  .object({
    type: z.literal("mssql"), port: port(1433), ...common, ...discrete,
    encrypt: z.boolean().default(true),
    trust_server_certificate: z.boolean().default(false),
    instance_name: z.string().optional(),
  })
  .superRefine(needsHost);
export const ClickhouseConfigSchema = z.object({
  type: z.literal("clickhouse"), port: port(8123), ...common,
  host: hostField, database: z.string().max(255).default("default"),
  username: z.string().max(255).default("default"), password: z.string().max(4096).optional(),
  protocol: z.enum(["http", "https"]).default("http"), ssl: SslSchema,
  ssh: SshSchema.optional(),
});
export const SnowflakeConfigSchema = z.object({
  type: z.literal("snowflake"), port: port(443), ...common,
  account: z.string().trim().min(1, "account is required"),
  username: z.string().min(1, "username is required"),
  password: z.string().optional(), private_key: z.string().optional(), private_key_passphrase: z.string().optional(),
  token: z.string().optional(),
  warehouse: z.string().optional(), database: z.string().optional(), schema: z.string().optional(), role: z.string().optional(),
  /** Where the SDK sends requests; defaults to https://<account>.snowflakecomputing.com. */
  access_url: z.string().url().optional(),
  host: z.string().optional(),
});
export const BigqueryConfigSchema = z.object({
  type: z.literal("bigquery"), ...common,
  project_id: z.string().trim().min(1, "project_id is required"),
  credentials: z.union([z.string().min(2), z.record(z.string(), z.unknown())]).optional(),
  location: z.string().optional(),
  dataset: z.string().optional(),
  /** API endpoint override (emulators, private endpoints). */
  api_endpoint: z.string().url().optional(),
  port: z.coerce.number().int().optional(),
});

/**
 * MongoDB: discrete fields, or a `mongodb://` / `mongodb+srv://` connection_string (the
 * discrete fields then fill in what the string leaves out: database, username, password).
 */
export const MongodbConfigSchema = z.object({
  type: z.literal("mongodb"), port: port(27017), ...common,
  host: hostField.optional(),
  /** The database whose collections are the source's tables. */
  database: z.string().trim().min(1).max(64).optional(),
  username: z.string().max(255).optional(),
  password: z.string().max(4096).optional(),
  /** Database holding the user's credentials (MongoDB's authSource); default `admin`. */
  auth_source: z.string().max(64).optional(),
  tls: z.boolean().default(false),
  connection_string: z.string().regex(/^mongodb(\+srv)?:\/\//, "connection_string must start with mongodb:// or mongodb+srv://").max(8192).optional(),
}).superRefine((c, ctx) => {
  needsHost(c, ctx);
  if (!c.database && !(c.connection_string && /^mongodb(\+srv)?:\/\/[^/]+\/[^/?]+/.test(c.connection_string)))
    ctx.addIssue({ code: "custom", path: ["database"], message: "database is required (the database whose collections to list), or name it in the connection_string's path" });
});

/**
 * The config schema of each type: the one list of the fields a client may send
 * (unknown ones are refused at the gateway by `parseClientDatabaseConfig`).
 */
export const CONFIG_SCHEMAS = {
  postgresql: PostgresConfigSchema, redshift: RedshiftConfigSchema, mysql: MysqlConfigSchema, mssql: MssqlConfigSchema,
  clickhouse: ClickhouseConfigSchema, snowflake: SnowflakeConfigSchema, bigquery: BigqueryConfigSchema, mongodb: MongodbConfigSchema,
} as const satisfies Record<DbType, z.ZodObject>;

export const DatabaseConfigSchema = z.discriminatedUnion("type", [
  PostgresConfigSchema, RedshiftConfigSchema, MysqlConfigSchema, MssqlConfigSchema,
  ClickhouseConfigSchema, SnowflakeConfigSchema, BigqueryConfigSchema, MongodbConfigSchema,
]);
export type DatabaseConfig = z.infer<typeof DatabaseConfigSchema>;
export type ConfigOf<T extends DbType> = Extract<DatabaseConfig, { type: T }>;

export const isDbType = (t: unknown): t is DbType => typeof t === "string" && (DB_TYPES as readonly string[]).includes(t);

/** Resolves aliases; throws UNSUPPORTED_DATABASE with the seed's message for anything else. */
export function normalizeDbType(t: unknown): DbType {
  if (typeof t !== "string" || t.trim() === "") throw new AppError("VALIDATION", "type is required: one of " + DB_TYPES.join(", "));
  const lower = t.trim().toLowerCase();
  const resolved = DB_TYPE_ALIASES[lower] ?? lower;
  if (isDbType(resolved)) return resolved;
  throw new AppError("UNSUPPORTED_DATABASE", `Unsupported database type: ${t}. Supported: [${DB_TYPES.join(", ")}]`);
}

/**
 * A config as a client sent it (test, connect): unknown fields are a 400 naming
 * them and the closest known field, then `parseDatabaseConfig`. Stored configs
 * (rows of the Python system may carry more) go through `parseDatabaseConfig` alone.
 */
export function parseClientDatabaseConfig(input: unknown): DatabaseConfig {
  if (!input || typeof input !== "object" || Array.isArray(input)) throw new AppError("VALIDATION", "Body must be a JSON object with a database config");
  const raw = input as Record<string, unknown>;
  const type = normalizeDbType(raw.type ?? raw.db_type);
  refuseUnknownFields(type, raw, CONFIG_SCHEMAS[type]);
  return parseDatabaseConfig(raw);
}

/** The trust boundary for configs from users: aliases, defaults, validation. */
export function parseDatabaseConfig(input: unknown): DatabaseConfig {
  if (!input || typeof input !== "object" || Array.isArray(input)) throw new AppError("VALIDATION", "Body must be a JSON object with a database config");
  const raw = input as Record<string, unknown>;
  const type = normalizeDbType(raw.type ?? raw.db_type);
  // Not silently dropped: a user who asked for a tunnel must not get a direct connection.
  if (raw.ssh !== undefined && raw.ssh !== null && !(SSH_DB_TYPES as readonly string[]).includes(type))
    throw new AppError("VALIDATION", `ssh is not supported for ${type}; it is for ${SSH_DB_TYPES.join(", ")}`);
  const parsed = DatabaseConfigSchema.safeParse({ ...raw, type });
  if (!parsed.success) throw new AppError("VALIDATION", `Invalid ${type} config: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

const FieldInfoBase = z.object({
  name: z.string(), type: z.enum(["string", "number", "boolean", "json", "select"]),
  required: z.boolean(), secret: z.boolean(), default: z.unknown().optional(), options: z.array(z.string()).optional(),
});
/** One field of a connect form; a `json` field may list the `fields` of the object it takes (`ssh`), for forms that show them one by one. */
export const FieldInfoSchema = FieldInfoBase.extend({ fields: z.array(FieldInfoBase).optional() });
export type FieldInfo = z.infer<typeof FieldInfoSchema>;
export const DatabaseInfoSchema = z.object({ type: z.string(), label: z.string(), default_port: z.number().nullable(), fields: z.array(FieldInfoSchema) });
export type DatabaseInfo = z.infer<typeof DatabaseInfoSchema>;

const f = (name: string, type: FieldInfo["type"], required: boolean, extra: Partial<FieldInfo> = {}): FieldInfo => ({ name, type, required, secret: (SENSITIVE_FIELDS as readonly string[]).includes(name), ...extra });
/** The optional SSH bastion of the server databases (SshSchema). */
const sshField: FieldInfo = f("ssh", "json", false, {
  fields: [f("host", "string", true), f("port", "number", false, { default: 22 }), f("username", "string", true),
    f("password", "string", false), f("private_key", "string", false), f("passphrase", "string", false), f("host_key_sha256", "string", false)],
});
const serverFields = (p: number): FieldInfo[] => [
  f("host", "string", true), f("port", "number", false, { default: p }), f("database", "string", true),
  f("username", "string", true), f("password", "string", false), f("ssl", "json", false), f("connection_string", "string", false), sshField,
];

/** What GET /api/data/databases lists. */
export const DATABASES = {
  postgresql: { type: "postgresql", label: "PostgreSQL", default_port: 5432, fields: serverFields(5432) },
  mysql: { type: "mysql", label: "MySQL / MariaDB", default_port: 3306, fields: serverFields(3306) },
  clickhouse: {
    type: "clickhouse", label: "ClickHouse", default_port: 8123,
    fields: [f("host", "string", true), f("port", "number", false, { default: 8123 }), f("database", "string", false, { default: "default" }),
      f("username", "string", false, { default: "default" }), f("password", "string", false), f("protocol", "select", false, { default: "http", options: ["http", "https"] }), sshField],
  },
  mssql: {
    type: "mssql", label: "SQL Server", default_port: 1433,
    fields: [...serverFields(1433), f("encrypt", "boolean", false, { default: true }), f("trust_server_certificate", "boolean", false, { default: false })],
  },
  snowflake: {
    type: "snowflake", label: "Snowflake", default_port: 443,
    fields: [f("account", "string", true), f("username", "string", true), f("password", "string", false), f("private_key", "string", false),
      f("warehouse", "string", false), f("database", "string", false), f("schema", "string", false), f("role", "string", false)],
  },
  bigquery: {
    type: "bigquery", label: "BigQuery", default_port: null,
    fields: [f("project_id", "string", true), f("credentials", "json", true), f("location", "string", false), f("dataset", "string", false)],
  },
  redshift: { type: "redshift", label: "Amazon Redshift", default_port: 5439, fields: serverFields(5439) },
  mongodb: {
    type: "mongodb", label: "MongoDB", default_port: 27017,
    fields: [f("host", "string", true), f("port", "number", false, { default: 27017 }), f("database", "string", true),
      f("username", "string", false), f("password", "string", false), f("auth_source", "string", false, { default: "admin" }),
      f("tls", "boolean", false, { default: false }), f("connection_string", "string", false)],
  },
} as const satisfies Record<DbType, DatabaseInfo>;

const isPlainObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === "object" && !Array.isArray(v);

/** Replaces every secret with REDACTED and drops `__enc_*` markers, in `ssh` too. Never mutates. */
export function redactConfig(config: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config)) {
    if (k.startsWith("__enc_")) continue;
    if ((SENSITIVE_FIELDS as readonly string[]).includes(k)) {
      if (v !== undefined && v !== null && v !== "") out[k] = REDACTED;
    } else if ((NESTED_SECRET_OBJECTS as readonly string[]).includes(k) && isPlainObject(v)) {
      out[k] = redactConfig(v);
    } else if (k === "ssl" && v && typeof v === "object") {
      const { key: _key, ...rest } = v as Record<string, unknown>;
      out[k] = _key ? { ...rest, key: REDACTED } : rest;
    } else out[k] = v;
  }
  return out;
}
