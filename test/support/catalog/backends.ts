import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { createLogger, parseEnv, type Logger } from "@dsb/runtime";
import { openDatabase } from "../../../services/catalog/src/db/open.ts";
import type { CatalogDb } from "../../../services/catalog/src/db/types.ts";
import { createScratchDatabase } from "../pg.ts";


/** A database the catalog runs on in tests, with the env that points at it. */
export interface Backend {
  name: string;
  db: CatalogDb;
  envVars: Record<string, string>;
  close(): Promise<void>;
}

export async function postgresBackend(): Promise<Backend> {
  const scratch = await createScratchDatabase("dsb_catalog");
  const dataDir = await mkdtemp(join(tmpdir(), "dsb-catalog-pg-"));
  const envVars: Record<string, string> = { DATABASE_URL: scratch.url, DATA_DIR: dataDir };
  const db = await openDatabase(testEnv(envVars));
  return {
    name: "postgresql", db, envVars,
    close: async () => {
      await db.destroy();
      await scratch.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export async function pgliteBackend(): Promise<Backend> {
  const dataDir = await mkdtemp(join(tmpdir(), "dsb-catalog-pglite-"));
  const envVars: Record<string, string> = { DATA_DIR: dataDir };
  const db = await openDatabase(testEnv(envVars));
  return {
    name: "pglite", db, envVars,
    close: async () => {
      await db.destroy();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Contract tests drive the catalog over the bus alone: no health scheduler (and no lease bucket on the shared NATS). */
export const testEnv = (vars: Record<string, string>) => parseEnv({ LOG_LEVEL: "trace", HEALTH_MONITORING: "false", ...vars });

/** A trace-level logger whose every line is kept, to grep for secrets. */
export function capturedLogger(name: string): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
  return { log: createLogger(name, "trace", stream), lines };
}
