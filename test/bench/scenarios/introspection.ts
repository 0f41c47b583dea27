import { PG_INTROSPECT_JSON_STATEMENT, PG_INTROSPECT_SQL } from "../../../services/connector/src/drivers/postgresql/introspect.ts";
import { call } from "../lib/http.ts";
import pg from "pg";
import { fasterBy, timeWithin, unlessCrash, type Ctx, type Scenario } from "../lib/scenario.ts";
import { connectSource, scratchDb } from "../lib/source-db.ts";

const COLUMNS = 20;
const TYPES = ["text", "integer", "numeric(12,2)", "timestamptz", "boolean", "varchar(64)", "date", "bigint", "double precision", "jsonb"];

/**
 * What SQLAlchemy 1.4's PostgreSQL inspector runs per table (get_columns,
 * get_pk_constraint, get_foreign_keys, get_indexes), the table's oid already
 * known as in its info_cache.
 */
const PER_TABLE = [
  `select a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
     (select pg_catalog.pg_get_expr(d.adbin, d.adrelid) from pg_catalog.pg_attrdef d
      where d.adrelid = a.attrelid and d.adnum = a.attnum and a.atthasdef) as "default",
     a.attnotnull, a.attrelid as table_oid, pgd.description as comment, a.attgenerated as generated,
     (select json_build_object('always', a.attidentity = 'a', 'start', s.seqstart, 'increment', s.seqincrement, 'minvalue', s.seqmin,
        'maxvalue', s.seqmax, 'cache', s.seqcache, 'cycle', s.seqcycle)
      from pg_catalog.pg_sequence s join pg_catalog.pg_class c on s.seqrelid = c.oid
      where c.relkind = 'S' and a.attidentity != ''
        and s.seqrelid = pg_catalog.pg_get_serial_sequence(a.attrelid::regclass::text, a.attname)::regclass::oid) as identity_options
   from pg_catalog.pg_attribute a
   left join pg_catalog.pg_description pgd on pgd.objoid = a.attrelid and pgd.objsubid = a.attnum
   where a.attrelid = $1 and a.attnum > 0 and not a.attisdropped
   order by a.attnum`,
  `select a.attname, k.ord, (select conname from pg_catalog.pg_constraint r where r.conrelid = $1 and r.contype = 'p') as conname
   from pg_catalog.pg_attribute a
   join (select unnest(ix.indkey) attnum, generate_subscripts(ix.indkey, 1) ord from pg_catalog.pg_index ix
         where ix.indrelid = $1 and ix.indisprimary) k on a.attnum = k.attnum
   where a.attrelid = $1 order by k.ord`,
  `select r.conname, pg_catalog.pg_get_constraintdef(r.oid, true) as condef, n.nspname as conschema
   from pg_catalog.pg_constraint r, pg_catalog.pg_namespace n, pg_catalog.pg_class c
   where r.conrelid = $1 and r.contype = 'f' and c.oid = confrelid and n.oid = c.relnamespace order by 1`,
  `select i.relname as relname, ix.indisunique, ix.indexprs, a.attname, a.attnum, c.conrelid, ix.indkey::varchar,
          ix.indoption::varchar, i.reloptions, am.amname, pg_catalog.pg_get_expr(ix.indpred, ix.indrelid), ix.indnkeyatts
   from pg_catalog.pg_class t
   join pg_catalog.pg_index ix on t.oid = ix.indrelid
   join pg_catalog.pg_class i on i.oid = ix.indexrelid
   left join pg_catalog.pg_attribute a on t.oid = a.attrelid and a.attnum = any(ix.indkey)
   left join pg_catalog.pg_constraint c on ix.indrelid = c.conrelid and ix.indexrelid = c.conindid and c.contype in ('p', 'u', 'x')
   left join pg_catalog.pg_am am on i.relam = am.oid
   where t.relkind in ('r', 'v', 'f', 'm', 'p') and t.oid = $1 and ix.indisprimary = 'f'
   order by t.relname, i.relname`,
];

const tablesOf = (ctx: Ctx) => Number(process.env.BENCH_INTRO_TABLES ?? (ctx.opts.quick ? 1000 : 5000));
/** A size whose schema fits one bus message today, so the ratio is measured even while the big one fails. */
const fitTablesOf = () => Number(process.env.BENCH_INTRO_FIT_TABLES ?? 250);

interface Size {
  db: Awaited<ReturnType<typeof scratchDb>>;
  sourceId: string;
  tables: number;
}
interface State { full: Size; fit: Size }

export async function createTables(ctx: Ctx, client: pg.Client, tables: number): Promise<void> {
  ctx.log(`  creating ${tables} tables × ${COLUMNS} columns`);
  const cols = Array.from({ length: COLUMNS - 1 }, (_, i) => `c${i + 1} ${TYPES[i % TYPES.length]}${i % 4 === 0 ? " not null" : ""}`).join(", ");
  // Batches: one transaction for all tables would exceed the lock table (max_locks_per_transaction).
  const BATCH = 250;
  for (let from = 1; from <= tables; from += BATCH) {
    const to = Math.min(tables, from + BATCH - 1);
    await client.query(`do $$ begin for i in ${from}..${to} loop
      execute format('create table t_%s (id integer primary key, ${cols}%s)', lpad(i::text, 5, '0'),
        case when i % 10 = 0 then format(', parent_id integer references t_%s(id)', lpad((i - 1)::text, 5, '0')) else '' end);
      if i % 5 = 0 then execute format('create index on t_%s (c2)', lpad(i::text, 5, '0')); end if;
    end loop; end $$`);
  }
  await client.query("analyze");
}

async function makeSize(ctx: Ctx, tables: number, label: string): Promise<Size> {
  const db = await scratchDb("dsb_bench_intro");
  // Connected while empty: the connect's own introspection is not what is measured.
  const sourceId = await connectSource(ctx, db.name, `bench introspection ${label}`);
  await createTables(ctx, db.client, tables);
  return { db, sourceId, tables };
}

/**
 * One `GET …/schema?refresh=true` through the gateway: ms, or NaN (noted) when it failed or came back short.
 * With `Accept-Encoding: gzip` as browsers and fetch send it (the body decoded within the time) unless `identity`.
 */
async function refresh(ctx: Ctx, s: Size, changes: "all" | "none", identity = false): Promise<number> {
  try {
    const t0 = performance.now();
    const r = await unlessCrash(ctx, (signal) => call(ctx.cluster.url, ctx.token, "GET", `/api/data/sources/${s.sourceId}/schema?refresh=true`, undefined, signal, !identity));
    const ms = performance.now() - t0;
    const body = r.status === 200 ? (JSON.parse(r.body.toString()) as { schema: { tables: unknown[] } | null; warning?: string; changes?: unknown[] }) : null;
    if (!body || body.warning || body.schema?.tables.length !== s.tables)
      throw new Error(`${r.status} ${body?.warning ?? ""} ${body ? `${body.schema?.tables.length ?? 0} tables` : r.body.toString().slice(0, 300)}`);
    const expected = changes === "all" ? s.tables : 0;
    if (body.changes?.length !== expected) throw new Error(`${body.changes?.length ?? "no"} changes, expected ${expected}`);
    return ms;
  } catch (e) {
    const crashed = await ctx.cluster.restartDead();
    ctx.note(`live schema of ${s.tables} tables through the gateway failed: ${e instanceof Error ? e.message : e}` +
      (crashed.length ? ` (${crashed.join(", ")} had crashed and was restarted)` : ""));
    return Number.NaN;
  }
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/**
 * Round 1 first refreshes the schema as it was just created: the stored copy is the empty
 * one of the connect, so that refresh stores every table and reports each as added, in
 * processes that have not run this path yet. Users pay it after a schema change (and
 * after a catalog restart, whose replica no longer knows the stored schema's hash); it
 * is reported as a row of its own. Then, every round: a refresh of the unchanged schema
 * (the usual one), the statement the connector sends run directly (its baseline), the
 * per-column form of the same catalog query, and the per-table pattern.
 */
async function measure(ctx: Ctx, s: Size, label: string, round: number): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  if (round === 0) {
    out[`${label}.first.gw.ms`] = await refresh(ctx, s, "all");
    out[`${label}.first.set.ms`] = await timed(() => s.db.client.query(PG_INTROSPECT_JSON_STATEMENT));
  }
  out[`${label}.gw.ms`] = await refresh(ctx, s, "none");
  out[`${label}.set.ms`] = await timed(() => s.db.client.query(PG_INTROSPECT_JSON_STATEMENT));
  out[`${label}.gw_identity.ms`] = await refresh(ctx, s, "none", true);
  let rows = 0;
  out[`${label}.rows.ms`] = await timed(async () => { rows = (await s.db.client.query(PG_INTROSPECT_SQL)).rows.length; });
  if (rows < s.tables * COLUMNS) throw new Error(`set-based query returned ${rows} rows`);

  const list = await s.db.client.query<{ oid: number }>(
    "select c.oid from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relkind in ('r', 'p') order by c.relname");
  out[`${label}.per_table.ms`] = await timed(async () => {
    for (const { oid } of list.rows) for (const q of PER_TABLE) await s.db.client.query(q, [oid]);
  });
  return out;
}

/** 5,000 tables × 20 columns: live schema through the gateway vs one set-based query vs the per-table pattern. */
export const introspection: Scenario<State> = {
  name: "introspection",
  describe: "tables × 20 columns: live schema through the gateway vs set-based query vs SQLAlchemy-style per-table queries",
  async setup(ctx) {
    return { fit: await makeSize(ctx, fitTablesOf(), "fit"), full: await makeSize(ctx, tablesOf(ctx), "full") };
  },
  async round(ctx, s, index) {
    return { ...(await measure(ctx, s.fit, "fit", index)), ...(await measure(ctx, s.full, "full", index)) };
  },
  rows: (o) => {
    const full = `${tablesOf({ opts: o } as Ctx)} tables`;
    const fit = `${fitTablesOf()} tables`;
    const statement = "the connector's statement";
    return [
      { label: `introspection ${full} vs set-based query`, unit: "ms", system: "full.gw.ms", baseline: "full.set.ms", baselineName: statement, target: timeWithin(1.2) },
      { label: `introspection ${full}, identity body (no Accept-Encoding) vs set-based query`, unit: "ms", system: "full.gw_identity.ms", baseline: "full.set.ms", baselineName: statement },
      { label: `introspection ${full} vs per-column rows`, unit: "ms", system: "full.gw.ms", baseline: "full.rows.ms", baselineName: "1 query, a row per column" },
      { label: `introspection ${full} vs per-table`, unit: "ms", system: "full.gw.ms", baseline: "full.per_table.ms", baselineName: "SQLAlchemy-style, 4/table", target: fasterBy(10) },
      // Round 1 only: what the first refresh after the tables were created costs (it stores them all).
      { label: `introspection ${full}: first refresh, stores all`, unit: "ms", system: "full.first.gw.ms", baseline: "full.first.set.ms", baselineName: statement },
      // The issue's targets are for 5,000 tables; at 250 the fixed cost of a request (HTTP, bus, storing) shows, so no target here.
      { label: `introspection ${fit} vs set-based query`, unit: "ms", system: "fit.gw.ms", baseline: "fit.set.ms", baselineName: statement },
      { label: `introspection ${fit} vs per-table`, unit: "ms", system: "fit.gw.ms", baseline: "fit.per_table.ms", baselineName: "SQLAlchemy-style, 4/table", target: fasterBy(10) },
    ];
  },
};
