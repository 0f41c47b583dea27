import type { Handlers } from "@dsb/bus";
import type { CatalogDeps } from "./deps.ts";

/**
 * catalog.files.referenced: for ingestion's stale-upload sweep. Upload keys are
 * `${tenant_id}/…`, so a key counts only for a source of the tenant it names.
 */
export function fileHandlers({ db }: CatalogDeps): Handlers<"catalog.files.referenced"> {
  return {
    "catalog.files.referenced": async ({ keys }) => {
      if (keys.length === 0) return { referenced: [] };
      const rows = await db.selectFrom("data_sources").select(["file_path", "tenant_id"])
        .where("is_active", "=", true).where("file_path", "in", [...new Set(keys)]).execute();
      const referenced = new Set(rows.filter((r) => r.file_path?.startsWith(`${r.tenant_id}/`)).map((r) => r.file_path!));
      return { referenced: keys.filter((k) => referenced.has(k)) };
    },
  };
}
