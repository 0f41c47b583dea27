import { z } from "zod";
import { SourceSchemaSchema } from "./schema.ts";
import { HealthCheckSettingsSchema, SourceHealthSchema } from "./health.ts";

export const SOURCE_TYPES = ["file", "database"] as const;
export const FILE_FORMATS = ["csv", "xlsx", "json", "ndjson", "parquet"] as const;
export type FileFormat = (typeof FILE_FORMATS)[number];

/** Who is asking: taken from the verified JWT by the gateway, never from a body. */
export const ActorSchema = z.object({
  tenant_id: z.string().min(1),
  user_id: z.string().min(1),
  role: z.string().optional(),
});
export type Actor = z.infer<typeof ActorSchema>;

/** A data source as it leaves the catalog: connection_config already redacted. */
export const DataSourceSchema = z.object({
  id: z.string(),
  name: z.string(),
  type: z.enum(SOURCE_TYPES),
  format: z.string().nullable(),
  db_type: z.string().nullable(),
  schema: SourceSchemaSchema.nullable(),
  connection_config: z.record(z.string(), z.unknown()).nullable(),
  file_path: z.string().nullable(),
  user_id: z.string(),
  tenant_id: z.string(),
  is_active: z.boolean(),
  created_at: z.string(),
  updated_at: z.string(),
  /** Database sources: the latest health (API.md "Health monitoring"), so a list needs no request per source. */
  health: SourceHealthSchema.optional(),
  /** Query cache TTL of this source; null: QUERY_CACHE_TTL_S. */
  cache_ttl_seconds: z.number().int().nullable().optional(),
  /** Monitoring settings; null: on, every HEALTH_CHECK_INTERVAL_S. */
  health_check: HealthCheckSettingsSchema.nullable().optional(),
});
export type DataSource = z.infer<typeof DataSourceSchema>;

/** Longest source name (the catalog refuses longer ones; the gateway checks before any dial). */
export const SOURCE_NAME_MAX_CHARS = 200;

/** A source's name: 1–200 characters without control characters (PostgreSQL text cannot hold a NUL). */
export const SourceNameSchema = z.string().trim().min(1, "name must not be empty")
  .max(SOURCE_NAME_MAX_CHARS, `name is at most ${SOURCE_NAME_MAX_CHARS} characters; shorten it`)
  .refine((s) => !/\p{Cc}/u.test(s), "name must not contain control characters (NUL, line breaks, tabs); remove them");

export const NewSourceSchema = z.object({
  name: SourceNameSchema,
  type: z.enum(SOURCE_TYPES),
  format: z.enum(FILE_FORMATS).optional(),
  db_type: z.string().optional(),
  /** Plaintext here; the catalog encrypts every sensitive field before it is stored. */
  connection_config: z.record(z.string(), z.unknown()).optional(),
  file_path: z.string().optional(),
  schema: SourceSchemaSchema.optional(),
});
export type NewSource = z.infer<typeof NewSourceSchema>;

/**
 * PATCH /api/data/sources/{id}: source settings plus any config fields, merged
 * with the stored config (a secret left out, or sent back as "********", keeps
 * its stored value; null removes a field). Files: `name` only.
 */
export const SourcePatchSchema = z.object({
  name: SourceNameSchema.optional(),
  allow_writes: z.boolean().optional(),
  cache_ttl_seconds: z.number().int().min(0).max(7 * 86_400).nullable().optional(),
  health_check: HealthCheckSettingsSchema.nullable().optional(),
}).catchall(z.unknown());
export type SourcePatch = z.infer<typeof SourcePatchSchema>;
