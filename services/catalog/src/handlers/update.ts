import { sql } from "kysely";
import { AppError, CONFIG_SCHEMAS, normalizeDbType, parseDatabaseConfig, pinSshHostKey, refuseUnknownFields, type DatabaseConfig, type ReplyOf } from "@dsb/contracts";
import type { Handlers } from "@dsb/bus";
import { decryptConfig, encryptConfig, UndecryptableField } from "../crypto/credentials.ts";
import { canonicalJson, mergeConfig } from "../config-merge.ts";
import { asObject, isoColumn, SOURCE_COLUMNS, toDataSource, toJson } from "../rows.ts";
import { actorLog, CONFIG_VERSION, NOT_FOUND, type CatalogDeps } from "./deps.ts";
import { withHealth } from "./sources.ts";

/** How long the connection test of a changed config may take (as `database/test`). */
export const UPDATE_TEST_TIMEOUT_MS = 45_000;

const COLUMNS = [...SOURCE_COLUMNS, isoColumn("created_at"), isoColumn("updated_at"), CONFIG_VERSION.as("version")] as const;

/** Fields of a config that do not change how it connects. */
const notConnection = (c: Record<string, unknown>) => canonicalJson({ ...c, allow_writes: undefined, name: undefined });

export function updateHandlers({ db, keys, bus, log, health }: CatalogDeps): Handlers<"catalog.source.update"> {
  /** The stored config, decrypted, as the user would send it. */
  const storedConfig = (stored: unknown, dbType: string | null, id: string): Record<string, unknown> => {
    const raw = asObject(stored);
    if (!raw) throw new AppError("INTERNAL", "This data source has no stored connection config; connect it again");
    try {
      const config = decryptConfig(raw, keys);
      return { ...config, type: config.type ?? dbType };
    } catch (e) {
      if (!(e instanceof UndecryptableField)) throw e;
      log.error({ id, field: e.field }, "❌ stored credentials do not open with ENCRYPTION_KEY");
      throw new AppError("INTERNAL", `${e.message}.`);
    }
  };

  return {
    "catalog.source.update": async ({ actor, id, patch }) => {
      const row = await db.selectFrom("data_sources").select(COLUMNS)
        .where("id", "=", id).where("tenant_id", "=", actor.tenant_id).where("is_active", "=", true).executeTakeFirst();
      if (!row) throw NOT_FOUND();
      if (row.user_id !== actor.user_id && actor.role !== "admin")
        throw new AppError("FORBIDDEN", "Only the owner or an admin may change this data source");
      const { name, cache_ttl_seconds, health_check, ...fields } = patch;
      const changesConfig = Object.keys(fields).length > 0;
      if (row.type !== "database" && (changesConfig || cache_ttl_seconds !== undefined || health_check !== undefined))
        throw new AppError("VALIDATION", `A file source can only be renamed: send name only (not ${[...Object.keys(fields), ...(cache_ttl_seconds !== undefined ? ["cache_ttl_seconds"] : []), ...(health_check !== undefined ? ["health_check"] : [])].join(", ")})`);

      let config: DatabaseConfig | undefined;
      let tested: ReplyOf<"connector.test"> | undefined;
      if (changesConfig) {
        const stored = storedConfig(row.connection_config, row.db_type, id);
        if (fields.type !== undefined && normalizeDbType(fields.type) !== normalizeDbType(stored.type))
          throw new AppError("VALIDATION", "type cannot change; connect a new source of the other type and delete this one");
        // As on connect: a misspelt field is a 400 naming it, not silently dropped.
        const type = normalizeDbType(stored.type);
        refuseUnknownFields(type, fields, CONFIG_SCHEMAS[type]);
        let before: DatabaseConfig | null = null;
        try { before = parseDatabaseConfig(stored); } catch { /* an older row that no longer validates: treat every field as changed */ }
        const merged = parseDatabaseConfig(forgetMovedSshKey(stored, mergeConfig(stored, { ...fields, type: undefined }), fields.ssh));
        if (!before || notConnection(before) !== notConnection(merged)) {
          // Tested before anything is written: a failure (422 CONNECTION_FAILED, 403 ADDRESS_NOT_ALLOWED) changes nothing.
          tested = await bus.request("connector.test", { config: merged }, { timeoutMs: UPDATE_TEST_TIMEOUT_MS });
          config = pinSshHostKey(merged, tested.ssh_host_key_sha256);
        } else if (canonicalJson(before) !== canonicalJson(merged)) config = merged; // allow_writes only: nothing to dial
      }

      const updated = await db.transaction().execute(async (tx) => {
        let q = tx.updateTable("data_sources").set({
          updated_at: sql<Date>`now()`,
          ...(name !== undefined ? { name } : {}),
          ...(config ? { connection_config: toJson(encryptConfig(config as Record<string, unknown>, keys)) } : {}),
          ...(cache_ttl_seconds !== undefined ? { cache_ttl_seconds } : {}),
          ...(health_check !== undefined ? { health_check: toJson(health_check) } : {}),
        }).where("id", "=", id).where("tenant_id", "=", actor.tenant_id).where("is_active", "=", true);
        // The test ran without a lock: a config changed meanwhile by someone else is not overwritten.
        if (config) q = q.where(CONFIG_VERSION, "=", row.version);
        const r = await q.returning(COLUMNS).executeTakeFirst();
        // New settings or a new config: the scheduler checks it in its next round.
        if (r && (health_check !== undefined || config))
          await tx.updateTable("data_source_health").set({ next_check_at: null }).where("source_id", "=", id).execute();
        return r;
      });
      if (!updated) throw new AppError("CONFLICT", "The data source was changed or deleted while this change was tested; load it again and resend the change");
      // The test just made is a check of the new config: its health reflects it at once.
      if (tested) await health.record(actor.tenant_id, id, { ok: true, latency_ms: tested.latency_ms, server_version: tested.server_version, error: null });
      bus.publish("catalog.events.source.changed", { id, tenant_id: actor.tenant_id, type: updated.type === "file" ? "file" : "database", version: updated.version });
      // Field names only: values may be secrets.
      log.info({ ...actorLog(actor), id, fields: Object.keys(patch), config_changed: !!config }, "✏️ data source updated");
      const [source] = await withHealth(db, actor.tenant_id, [toDataSource(updated)]);
      return { source: source!, warnings: tested?.warnings ?? [] };
    },
  };
}

/**
 * A PATCH that moves `ssh` to another host or port without naming its key: the key pinned
 * for the old SSH server says nothing about the new one, so it is dropped and the test of
 * the new config pins the key it sees (as connect does).
 */
function forgetMovedSshKey(stored: Record<string, unknown>, merged: Record<string, unknown>, patchSsh: unknown): Record<string, unknown> {
  const was = stored.ssh as { host?: unknown; port?: unknown } | undefined;
  const now = merged.ssh as { host?: unknown; port?: unknown; host_key_sha256?: unknown } | undefined;
  if (!was || !now || (patchSsh as { host_key_sha256?: unknown } | null | undefined)?.host_key_sha256 !== undefined) return merged;
  if (was.host === now.host && String(was.port ?? 22) === String(now.port ?? 22)) return merged;
  const { host_key_sha256: _old, ...ssh } = now;
  return { ...merged, ssh };
}
