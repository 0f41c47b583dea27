import { AppError } from "@dsb/contracts";
import type { Handlers } from "@dsb/bus";
import { decryptConfig, UndecryptableField } from "../crypto/credentials.ts";
import { asObject } from "../rows.ts";
import { CONFIG_VERSION, NOT_FOUND, type CatalogDeps } from "./deps.ts";

/** catalog.config.resolve: a stored source's decrypted config for the connector, with the version its pools are keyed by. */
export function configHandlers({ db, keys, log }: CatalogDeps): Handlers<"catalog.config.resolve"> {
  return {
    "catalog.config.resolve": async ({ tenant_id, id }) => {
      const row = await db.selectFrom("data_sources")
        .select(["type", "db_type", "connection_config", CONFIG_VERSION.as("version")])
        .where("id", "=", id).where("tenant_id", "=", tenant_id).where("is_active", "=", true).executeTakeFirst();
      if (!row) throw NOT_FOUND();
      const stored = asObject(row.connection_config);
      if (row.type !== "database" || !stored)
        throw new AppError("VALIDATION", "This data source is a file; it has no connection config");
      try {
        const config = decryptConfig(stored, keys);
        const dbType = row.db_type ?? (typeof config.type === "string" ? config.type : "");
        // Not updated_at: a rename or a schema refresh must not open new pools.
        return { id, db_type: dbType, config, version: row.version };
      } catch (e) {
        if (!(e instanceof UndecryptableField)) throw e;
        log.error({ tenant_id, id, field: e.field }, "❌ stored credentials do not open with ENCRYPTION_KEY");
        throw new AppError("INTERNAL", `${e.message}.`);
      }
    },
  };
}
