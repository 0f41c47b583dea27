import { createRequire } from "node:module";
import type pg from "pg";
import { pgTypes } from "./types.ts";

interface PgResult {
  fields: pg.FieldDef[];
  addFields(f: pg.FieldDef[]): void;
  parseRow(values: unknown[]): unknown[];
}
// Deep requires (untyped), as pg-cursor does: the row parser and value preparation pg itself uses.
const require = createRequire(import.meta.url);
const Result = require("pg/lib/result.js") as new (rowMode: "array", types: typeof pgTypes) => PgResult;
const { prepareValue } = require("pg/lib/utils.js") as { prepareValue(v: unknown): unknown };

/** What one pipelined statement returned. */
export interface OneShotResult {
  fields: pg.FieldDef[];
  rows: unknown[][];
  /** The statement had more rows than `maxRows` (they were not read). */
  more: boolean;
}

interface Wire {
  parse(m: { text: string }): void;
  bind(m: { values?: unknown[] }): void;
  describe(m: { type: "P" }): void;
  execute(m: { rows?: number }): void;
  sync(): void;
}

/**
 * Where the statement's statement_timeout comes from: `local`, a SET LOCAL for this transaction;
 * `session`, a SET the session keeps after the commit (for the next read on it); `kept`, the
 * session has that value already, and the pipeline sets nothing.
 */
export type TimeoutScope = "local" | "session" | "kept";

/**
 * A whole read in one round trip: BEGIN READ ONLY, SET [LOCAL] statement_timeout
 * (none when the session keeps the value already), the statement (extended
 * protocol: one statement only, parameters bound) with at most `maxRows` rows,
 * and COMMIT, written together and closed by one Sync, so the server answers
 * everything at once. The statement runs inside the
 * transaction exactly as with separate round trips: if it fails, the server
 * skips to the Sync and the session is left in a failed transaction for the
 * caller to roll back. A pg `Submittable` (what `client.query()` takes).
 */
export class OneShotQuery {
  /** Commands answered so far. */
  private phase = 0;
  /** The statement's place in the pipeline (after BEGIN and any SET), and how many commands it has. */
  private readonly statement: number;
  private readonly commands: number;
  private readonly result = new Result("array", pgTypes);
  private readonly rows: unknown[][] = [];
  private more = false;
  private error: unknown = null;
  private settle!: { resolve(r: OneShotResult): void; reject(e: unknown): void };
  readonly done: Promise<OneShotResult>;

  constructor(
    private readonly text: string,
    private readonly values: readonly unknown[],
    private readonly o: { readOnly: boolean; timeoutMs: number; maxRows: number; timeout?: TimeoutScope },
  ) {
    this.statement = o.timeout === "kept" ? 1 : 2;
    this.commands = this.statement + 2;
    this.done = new Promise((resolve, reject) => { this.settle = { resolve, reject }; });
  }

  submit(connection: unknown): void {
    const con = connection as Wire;
    const simple = (text: string) => {
      con.parse({ text });
      con.bind({});
      con.execute({});
    };
    simple(this.o.readOnly ? "BEGIN READ ONLY" : "BEGIN");
    const scope = this.o.timeout ?? "local";
    // An integer we format: no injection through the timeout.
    if (scope !== "kept") simple(`SET ${scope === "local" ? "LOCAL " : ""}statement_timeout = ${Math.max(1, Math.floor(this.o.timeoutMs))}`);
    con.parse({ text: this.text });
    con.bind({ values: this.values.map((v) => prepareValue(v)) });
    con.describe({ type: "P" });
    con.execute({ rows: this.o.maxRows });
    simple("COMMIT");
    con.sync();
  }

  handleRowDescription(msg: { fields: pg.FieldDef[] }): void {
    if (this.phase === this.statement) this.result.addFields(msg.fields);
  }

  handleDataRow(msg: { fields: unknown[] }): void {
    if (this.phase === this.statement) this.rows.push(this.result.parseRow(msg.fields));
  }

  handleCommandComplete(): void {
    this.phase++;
  }

  handlePortalSuspended(): void {
    this.more = true;
    this.phase++;
  }

  handleEmptyQuery(): void {
    this.phase++;
  }

  /** The server skips to the Sync after an error; the client stops routing to this query. */
  handleError(err: unknown): void {
    this.error ??= err;
    this.settle.reject(err);
  }

  handleReadyForQuery(): void {
    if (this.error) return;
    if (this.phase !== this.commands) {
      this.settle.reject(new Error(`PostgreSQL answered ${this.phase} of the ${this.commands} pipelined commands`));
      return;
    }
    this.settle.resolve({ fields: this.result.fields, rows: this.rows, more: this.more });
  }

  handleCopyInResponse(con: { sendCopyFail(m: string): void }): void {
    con.sendCopyFail("COPY FROM STDIN is not supported here");
  }

  handleCopyData(): void {}
}
