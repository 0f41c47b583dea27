import { sql } from "kysely";
import type { CatalogDb } from "./types.ts";
import { ANALYTICS } from "./migrate-analytics.ts";

/**
 * Schema steps, applied in order, each once. Tables and columns are the seed's,
 * created IF NOT EXISTS so a database of the Python system can be used as is.
 */
const MIGRATIONS: { version: number; name: string; statements: string[] }[] = [
  {
    version: 1,
    name: "seed tables and list/history indexes",
    statements: [
      `create table if not exists data_sources (
        id text primary key,
        name text not null,
        type text not null,
        format text,
        db_type text,
        schema jsonb,
        connection_config jsonb,
        file_path text,
        user_id text not null,
        tenant_id text not null,
        is_active boolean not null default true,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now()
      )`,
      `create index if not exists data_sources_list_idx
        on data_sources (tenant_id, created_at desc, id desc) where is_active`,
      `create index if not exists data_sources_list_type_idx
        on data_sources (tenant_id, type, created_at desc, id desc) where is_active`,
      `create table if not exists data_queries (
        id text primary key,
        data_source_id text not null references data_sources (id),
        user_id text not null,
        tenant_id text not null,
        natural_language_query text,
        query text,
        query_config jsonb,
        result_count integer,
        execution_time_ms integer,
        status text not null,
        error text,
        created_at timestamptz not null default now()
      )`,
      `create index if not exists data_queries_history_idx
        on data_queries (data_source_id, tenant_id, created_at desc, id desc)`,
    ],
  },
  {
    version: 2,
    name: "schema_checked_at: last_updated of a refresh that found the schema unchanged",
    // A refresh that finds nothing changed stores only this; rewriting megabytes of toasted
    // jsonb to change one field took ~70 ms for 5,000 tables. Nullable: Python rows have none.
    statements: [`alter table data_sources add column if not exists schema_checked_at text`],
  },
  {
    version: 3,
    name: "source settings (cache_ttl_seconds, health_check), health and the last checks",
    // New nullable columns and new tables only: the Python system reads data_sources as before.
    statements: [
      `alter table data_sources add column if not exists cache_ttl_seconds integer`,
      `alter table data_sources add column if not exists health_check jsonb`,
      `create table if not exists data_source_health (
        source_id text primary key references data_sources (id) on delete cascade,
        tenant_id text not null,
        status text not null default 'unknown',
        checked_at timestamptz,
        last_success_at timestamptz,
        latency_ms integer,
        error_code text,
        error_message text,
        consecutive_failures integer not null default 0,
        next_check_at timestamptz,
        claimed_until timestamptz
      )`,
      `create index if not exists data_source_health_due_idx on data_source_health (next_check_at)`,
      `create table if not exists data_source_health_checks (
        id bigserial primary key,
        source_id text not null references data_sources (id) on delete cascade,
        tenant_id text not null,
        checked_at timestamptz not null default now(),
        status text not null,
        latency_ms integer,
        error_code text,
        error_message text
      )`,
      `create index if not exists data_source_health_checks_idx on data_source_health_checks (source_id, id desc)`,
    ],
  },
  {
    version: 4,
    name: "data_queries.cached (query result cache hits) and a tenant/time index for analytics",
    // Nullable: the Python system's rows and inserts leave it null (not a cache hit).
    statements: [
      `alter table data_queries add column if not exists cached boolean`,
      `create index if not exists data_queries_tenant_time_idx on data_queries (tenant_id, created_at)`,
    ],
  },
  { version: 5, name: "query analytics: per-day rollups kept by triggers, a day/duration and a text index", statements: ANALYTICS },
  {
    version: 6,
    name: "data_sources.schema_sha256: the hash of the stored schema's tables, cleared by any other write of schema",
    // A refresh whose tables hash the same only writes schema_checked_at, in one statement on any replica.
    // The trigger keeps the hash honest when something else writes schema (the Python system, psql): a write
    // of schema that does not also change schema_sha256 clears it, and the next refresh stores in full.
    statements: [
      `alter table data_sources add column if not exists schema_sha256 text`,
      `create or replace function data_sources_schema_sha256_clear() returns trigger language plpgsql as $$
        begin
          if new.schema_sha256 is not distinct from old.schema_sha256 then new.schema_sha256 := null; end if;
          return new;
        end $$`,
      `drop trigger if exists data_sources_schema_sha256_clear on data_sources`,
      `create trigger data_sources_schema_sha256_clear before update of schema on data_sources
        for each row execute function data_sources_schema_sha256_clear()`,
    ],
  },
];

/** Arbitrary constant naming the catalog's migration lock among advisory locks. */
const LOCK_KEY = 7_310_420_001;

/**
 * Applies pending migrations in one transaction under a transaction-scoped
 * advisory lock, so replicas starting together wait for each other and the
 * loser finds nothing left to do.
 */
export async function migrate(db: CatalogDb, onApply?: (m: { version: number; name: string }) => void): Promise<number[]> {
  return db.transaction().execute(async (tx) => {
    await sql`select pg_advisory_xact_lock(${sql.lit(LOCK_KEY)})`.execute(tx);
    await sql`create table if not exists catalog_migrations (
      version integer primary key, name text not null, applied_at timestamptz not null default now())`.execute(tx);
    const done = new Set((await tx.selectFrom("catalog_migrations").select("version").execute()).map((r) => r.version));
    const applied: number[] = [];
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      onApply?.(m);
      for (const statement of m.statements) await sql.raw(statement).execute(tx);
      await tx.insertInto("catalog_migrations").values({ version: m.version, name: m.name }).execute();
      applied.push(m.version);
    }
    return applied;
  });
}
