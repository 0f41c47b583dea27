import type { PGlite } from "@electric-sql/pglite";
import {
  CompiledQuery, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler,
  type DatabaseConnection, type Dialect, type Driver, type Kysely, type QueryResult,
} from "kysely";

/**
 * Kysely over PGlite. PGlite is one connection, so the driver hands it to one
 * caller at a time (a transaction keeps it until commit or rollback).
 */
export class PGliteDialect implements Dialect {
  constructor(private readonly pg: PGlite) {}
  createAdapter() { return new PostgresAdapter(); }
  createQueryCompiler() { return new PostgresQueryCompiler(); }
  createIntrospector(db: Kysely<unknown>) { return new PostgresIntrospector(db); }
  createDriver(): Driver { return new PGliteDriver(this.pg); }
}

class PGliteDriver implements Driver {
  private queue: Promise<void> = Promise.resolve();
  private release: (() => void) | null = null;
  private readonly conn: DatabaseConnection;

  constructor(private readonly pg: PGlite) {
    this.conn = {
      executeQuery: async <R>(q: CompiledQuery): Promise<QueryResult<R>> => {
        const r = await pg.query<R>(q.sql, [...q.parameters]);
        return { rows: r.rows, ...(r.affectedRows !== undefined ? { numAffectedRows: BigInt(r.affectedRows) } : {}) };
      },
      streamQuery: () => { throw new Error("PGlite dialect does not stream"); },
    };
  }

  async init() {}
  async acquireConnection() {
    const prev = this.queue;
    let done!: () => void;
    this.queue = new Promise((r) => (done = r));
    await prev;
    this.release = done;
    return this.conn;
  }
  async releaseConnection() { const r = this.release; this.release = null; r?.(); }
  async beginTransaction(c: DatabaseConnection) { await c.executeQuery(CompiledQuery.raw("begin")); }
  async commitTransaction(c: DatabaseConnection) { await c.executeQuery(CompiledQuery.raw("commit")); }
  async rollbackTransaction(c: DatabaseConnection) { await c.executeQuery(CompiledQuery.raw("rollback")); }
  async destroy() { await this.pg.close(); }
}
