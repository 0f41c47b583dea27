import type { Logger } from "@dsb/runtime";
import { decryptConfig, encryptConfig, needsReencryption, UndecryptableField } from "./crypto/credentials.ts";
import type { MultiFernet } from "./crypto/fernet.ts";
import type { CatalogDb } from "./db/types.ts";
import { asObject, toJson } from "./rows.ts";

export interface RotationReport {
  scanned: number;
  rewritten: number;
  /** Ids of rows whose secrets no configured key opens (left untouched). */
  failed: string[];
}

/**
 * Re-encrypts every stored config (active or not) with the first key, in
 * batches ordered by id. Rows already sealed by the first key are skipped, so a
 * second run rewrites nothing; plaintext rows (old fallback) get encrypted.
 * `updated_at` is left alone: the decrypted config, which it versions, is the same.
 */
export async function rotateKeys(db: CatalogDb, keys: MultiFernet, opts: { batchSize?: number; log?: Logger } = {}): Promise<RotationReport> {
  const batchSize = opts.batchSize ?? 200;
  const report: RotationReport = { scanned: 0, rewritten: 0, failed: [] };
  let after = "";
  for (;;) {
    const rows = await db.selectFrom("data_sources").select(["id", "connection_config"])
      .where("id", ">", after).where("connection_config", "is not", null)
      .orderBy("id").limit(batchSize).execute();
    if (rows.length === 0) break;
    after = rows[rows.length - 1]!.id;
    for (const row of rows) {
      report.scanned++;
      const stored = asObject(row.connection_config);
      if (!stored || !needsReencryption(stored, keys.primary)) continue;
      let sealed: Record<string, unknown>;
      try {
        sealed = encryptConfig(decryptConfig(stored, keys), keys);
      } catch (e) {
        if (!(e instanceof UndecryptableField)) throw e;
        report.failed.push(row.id);
        opts.log?.error({ id: row.id, field: e.field }, "❌ cannot re-encrypt: no key in ENCRYPTION_KEY opens this row");
        continue;
      }
      await db.updateTable("data_sources").set({ connection_config: toJson(sealed) }).where("id", "=", row.id).execute();
      report.rewritten++;
    }
    opts.log?.info({ scanned: report.scanned, rewritten: report.rewritten }, "🔑 rotation progress");
  }
  return report;
}
