/**
 * `npx tsx test/bench/history-write-pglite.ts`: what recording history costs embedded mode, where
 * the catalog is PGlite on the process's own thread: CPU per row of the history writer's INSERT at
 * batch sizes 1 to 500 (a fresh PGlite database in a temporary directory, migrated). The gateway's
 * batch wait (history.ts) decides the batch size: its entries at the query rate × the wait.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { openDatabase } from "../../services/catalog/src/db/open.ts";
import { migrate } from "../../services/catalog/src/db/migrate.ts";
import { createHistoryWriter, type HistoryRow } from "../../services/catalog/src/handlers/history-writer.ts";

const dir = mkdtempSync(join(tmpdir(), "dsb-history-pglite-"));
try {
  const db = await openDatabase({ DATABASE_URL: undefined, DATA_DIR: dir });
  await migrate(db);
  await sql`insert into data_sources (id, name, type, db_type, user_id, tenant_id) values ('s1', 'source', 'database', 'postgresql', 'u1', 'acme')`.execute(db);
  const writer = createHistoryWriter(db);
  let n = 0;
  const row = (): HistoryRow => {
    n++;
    return { id: `w${n}`, data_source_id: "s1", user_id: "u1", tenant_id: "acme", natural_language_query: null,
      query: "select * from small10", query_config: null, result_count: 10, execution_time_ms: 1, status: "success", error: null, cached: false };
  };
  const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
  // Twice over, the second pass warm (PGlite's WebAssembly is optimised as it runs).
  for (const size of [1, 5, 20, 50, 100, 200, 500, 1, 5, 20, 50, 100, 200, 500]) {
    const statements = Math.max(10, Math.round(4000 / size));
    const c0 = cpuMs();
    for (let i = 0; i < statements; i++) await Promise.all(Array.from({ length: size }, () => writer.write(row())));
    const ms = cpuMs() - c0;
    console.log(`batch ${String(size).padStart(3)}: ${Math.round((ms * 1000) / (statements * size)).toString().padStart(5)} µs CPU per row, ${(ms / statements).toFixed(2)} ms per statement`);
  }
  await db.destroy();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
