import { AppError, diffSchemas, SourceSchemaSchema } from "@dsb/contracts";
import type { Handlers } from "@dsb/bus";
import { sql } from "kysely";
import { decryptConfig, UndecryptableField } from "../crypto/credentials.ts";
import { asObject, isoColumn, toJson } from "../rows.ts";
import { actorLog, findActiveSource, NOT_FOUND, type CatalogDeps } from "./deps.ts";

export function configHandlers({ db, keys, log }: CatalogDeps): Handlers<"catalog.schema.put" | "catalog.config.resolve"> {
  return {
    "catalog.schema.put": async ({ actor, id, schema }) => {
      const changes = await db.transaction().execute(async (tx) => {
        const row = await findActiveSource(tx, actor.tenant_id, id, { forUpdate: true });
        const old = SourceSchemaSchema.safeParse(asObject(row.schema));
        await tx.updateTable("data_sources").set({ schema: toJson(schema), updated_at: sql<Date>`now()` })
          .where("id", "=", id).where("tenant_id", "=", actor.tenant_id).execute();
        return diffSchemas(old.success ? old.data : null, schema);
      });
      log.debug({ ...actorLog(actor), id, changes: changes.length }, "schema stored");
      return { schema, changes };
    },

    "catalog.config.resolve": async ({ tenant_id, id }) => {
      const row = await db.selectFrom("data_sources")
        .select(["type", "db_type", "connection_config", isoColumn("updated_at")])
        .where("id", "=", id).where("tenant_id", "=", tenant_id).where("is_active", "=", true).executeTakeFirst();
      if (!row) throw NOT_FOUND();
      const stored = asObject(row.connection_config);
      if (row.type !== "database" || !stored)
        throw new AppError("VALIDATION", "This data source is a file; it has no connection config");
      try {
        const config = decryptConfig(stored, keys);
        const dbType = row.db_type ?? (typeof config.type === "string" ? config.type : "");
        return { id, db_type: dbType, config, version: row.updated_at };
      } catch (e) {
        if (!(e instanceof UndecryptableField)) throw e;
        log.error({ tenant_id, id, field: e.field }, "❌ stored credentials do not open with ENCRYPTION_KEY");
        throw new AppError("INTERNAL", `${e.message}.`);
      }
    },
  };
}
