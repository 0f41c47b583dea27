import { createLogger, parseEnv } from "@dsb/runtime";
import { loadKeys } from "./crypto/keys.ts";
import { migrate } from "./db/migrate.ts";
import { openDatabase } from "./db/open.ts";
import { rotateKeys } from "./rotate.ts";

/**
 * `npm run rotate-keys`: put the new key first in ENCRYPTION_KEY (old ones after
 * it), run this, then drop the old keys. Safe to run again. In embedded mode
 * (PGlite) stop the app first: PGlite allows one process per data directory.
 */
const env = parseEnv();
const log = createLogger("rotate-keys", env.LOG_LEVEL);
try {
  const keys = await loadKeys(env, log);
  const db = await openDatabase(env, log);
  try {
    await migrate(db);
    const report = await rotateKeys(db, keys, { log });
    log.info({ scanned: report.scanned, rewritten: report.rewritten, failed: report.failed.length }, "✅ key rotation finished");
    process.exitCode = report.failed.length ? 1 : 0;
  } finally {
    await db.destroy();
  }
} catch (err) {
  log.fatal({ err }, `❌ key rotation failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
