/**
 * What every driver's read-only guard shares: the refusal it throws and a small
 * bounded cache of verdicts by SQL text (the same dashboards send the same
 * statements over and over; a verdict costs a parse or a scan).
 */
import { DriverError } from "./types.ts";

/**
 * The error a read-only guard throws: a query failure (422 QUERY_FAILED, kept in
 * the history) whose message says what was refused, why, and what to do instead.
 */
export function readOnlyRefusal(what: string): DriverError {
  return new DriverError(
    "query",
    `Read-only query refused: ${what}. Read-only mode runs only statements that read data; ` +
      "send a plain SELECT, or run it on a source connected with allow_writes: true as read_only: false.",
  );
}

/** Longest SQL text kept in a verdict cache (longer texts are checked every time). */
const CACHEABLE_CHARS = 8 * 1024;

/** A least-recently-used map of verdicts by SQL text, bounded in entries and text size. */
export class VerdictCache<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly max = 1000) {}

  get(sql: string): V | undefined {
    const v = this.map.get(sql);
    if (v === undefined) return undefined;
    // Map keeps insertion order: re-inserting makes this the newest entry.
    this.map.delete(sql);
    this.map.set(sql, v);
    return v;
  }

  set(sql: string, v: V): void {
    if (sql.length > CACHEABLE_CHARS) return;
    this.map.delete(sql);
    this.map.set(sql, v);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
  }

  /** The cached verdict, or `decide(sql)` stored for next time. */
  of(sql: string, decide: (sql: string) => V): V {
    const hit = this.get(sql);
    if (hit !== undefined) return hit;
    const v = decide(sql);
    this.set(sql, v);
    return v;
  }

  get size(): number {
    return this.map.size;
  }
}

/**
 * A guard that decides on the text itself (tokens): its verdicts cached by SQL
 * text, and the refusal it throws. `decide` says why the text is refused, or null.
 */
export function textGuard(decide: (sql: string) => string | null) {
  const verdicts = new VerdictCache<string | null>(1000);
  const violation = (sql: string): string | null => verdicts.of(sql, decide);
  const refusal = (sql: string): DriverError | null => {
    const why = violation(sql);
    return why ? readOnlyRefusal(why) : null;
  };
  return { violation, refusal };
}
