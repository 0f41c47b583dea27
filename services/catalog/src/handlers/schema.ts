import type { SourceSchema } from "@dsb/contracts";
import type { Handlers } from "@dsb/bus";
import { sql } from "kysely";
import { asObject, toJson } from "../rows.ts";
import { actorLog, NOT_FOUND, type CatalogDeps } from "./deps.ts";
import { diffDigest, DigestCache, digestOf, tablesSha256 } from "./schema-digest.ts";

const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === "object" && !Array.isArray(v);

/**
 * The stored schema if it has what diffSchemas reads (table schema/name, column
 * name/type), else null ("nothing before"). Not a zod parse: it runs on every
 * refresh over a schema we wrote ourselves, up to 100k columns, and older Python
 * rows of another shape only need to read as absent.
 */
export function diffable(v: Record<string, unknown> | null): SourceSchema | null {
  if (!v || !Array.isArray(v.tables)) return null;
  for (const t of v.tables as unknown[]) {
    if (!isObj(t) || typeof t.name !== "string" || (t.schema !== undefined && typeof t.schema !== "string") || !Array.isArray(t.columns)) return null;
    for (const c of t.columns as unknown[]) if (!isObj(c) || typeof c.name !== "string" || typeof c.type !== "string") return null;
  }
  return v as unknown as SourceSchema;
}

/** catalog.schema.*: a refreshed schema stored with its changes, or only its check time when the tables are the same. */
export function schemaHandlers({ db, log }: CatalogDeps): Handlers<"catalog.schema.put" | "catalog.schema.touch"> {
  const digests = new DigestCache();
  let lz4Support: Promise<boolean> | undefined;
  const lz4 = () => (lz4Support ??= sql<{ ok: boolean }>`select coalesce(bool_or('lz4' = any(enumvals)), false) as ok from pg_settings where name = 'default_toast_compression'`
    .execute(db).then((r) => r.rows[0]?.ok === true, () => false));
  return {
    "catalog.schema.put": async ({ actor, id, schema, echo }) => {
      const key = `${actor.tenant_id}\u0000${id}`;
      const useLz4 = await lz4(); // before the transaction: PGlite has one connection
      const sha = tablesSha256(schema.tables);
      const digest = await db.transaction().execute(async (tx) => {
        const row = await tx.selectFrom("data_sources").select("schema_sha256")
          .where("id", "=", id).where("tenant_id", "=", actor.tenant_id).where("is_active", "=", true)
          .forUpdate().executeTakeFirst();
        if (!row) throw NOT_FOUND();
        // The stored hash tells whether the digest this replica kept is still the stored schema;
        // if not, the old schema is read back in full.
        const before = digests.get(key, row.schema_sha256) ?? digestOf(diffable(asObject(
          (await tx.selectFrom("data_sources").select("schema").where("id", "=", id).executeTakeFirstOrThrow()).schema)));
        // lz4 compresses the toasted megabytes of a large schema several times faster than the default pglz.
        if (useLz4) await sql`set local default_toast_compression = lz4`.execute(tx);
        // PostgreSQL parses the new jsonb while this process diffs: one turn of the
        // event loop lets the UPDATE reach the socket before the synchronous diff.
        const update = tx.updateTable("data_sources").set({ schema: toJson(schema), schema_sha256: sha, schema_checked_at: null, updated_at: sql<Date>`now()` })
          .where("id", "=", id).where("tenant_id", "=", actor.tenant_id).executeTakeFirstOrThrow();
        update.catch(() => undefined); // awaited below; not "unhandled" while the diff runs
        await new Promise((r) => setImmediate(r));
        const diff = diffDigest(before, schema);
        await update;
        return diff;
      });
      digests.set(key, sha, digest.digest);
      log.debug({ ...actorLog(actor), id, changes: digest.changes.length }, "schema stored");
      return echo ? { schema, changes: digest.changes } : { changes: digest.changes };
    },

    "catalog.schema.touch": async ({ actor, id, tables_sha256, last_updated }) => {
      // One statement, on any replica: the jsonb stays as it is (rewriting megabytes of it is the slow part;
      // reads overlay this time). Committed without waiting for the WAL flush (3–15 ms here): a crash may
      // lose only this check time, and the stored schema is the same either way.
      const touched = await sql<{ id: string }>`update data_sources set schema_checked_at = ${last_updated}, updated_at = now()
        from (select set_config('synchronous_commit', 'off', true)) as async_commit
        where id = ${id} and tenant_id = ${actor.tenant_id} and is_active and schema_sha256 = ${tables_sha256}
        returning id`.execute(db);
      if (touched.rows.length) {
        log.debug({ ...actorLog(actor), id }, "schema unchanged; last_updated stored");
        return { stored: true };
      }
      const exists = await db.selectFrom("data_sources").select("id")
        .where("id", "=", id).where("tenant_id", "=", actor.tenant_id).where("is_active", "=", true).executeTakeFirst();
      if (!exists) throw NOT_FOUND();
      return { stored: false };
    },
  };
}
