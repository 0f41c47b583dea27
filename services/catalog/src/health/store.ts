import { sql, type RawBuilder } from "kysely";
import {
  HEALTH_CHECKS_KEPT, HealthCheckSettingsSchema, UNKNOWN_HEALTH,
  type CheckResult, type HealthCheck, type HealthCheckSettings, type HealthStatus, type SourceHealth,
} from "@dsb/contracts";
import type { CatalogDb } from "../db/types.ts";
import { applyCheck, type HealthPolicy } from "./state.ts";

/** A timestamp column as ISO-8601 UTC text with milliseconds (sessions run in UTC). */
const iso = (col: string): RawBuilder<string | null> => sql<string | null>`to_char(${sql.ref(col)}, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

const HEALTH_SELECT = sql`source_id, status, ${iso("checked_at")} as checked_at, ${iso("last_success_at")} as last_success_at,
  latency_ms, error_code, error_message, consecutive_failures, ${iso("next_check_at")} as next_check_at`;

interface HealthRow {
  source_id: string; status: string; checked_at: string | null; last_success_at: string | null; latency_ms: number | null;
  error_code: string | null; error_message: string | null; consecutive_failures: number; next_check_at: string | null;
}

const asStatus = (s: string): HealthStatus => (s === "healthy" || s === "degraded" || s === "unhealthy" ? s : "unknown");
const errorOf = (code: string | null, message: string | null) => (code ? { code, message: message ?? "" } : null);

function toHealth(r: HealthRow): SourceHealth {
  return {
    status: asStatus(r.status), checked_at: r.checked_at, last_success_at: r.last_success_at, latency_ms: r.latency_ms,
    error: errorOf(r.error_code, r.error_message), consecutive_failures: r.consecutive_failures, next_check_at: r.next_check_at,
  };
}

/** A stored `health_check` (jsonb) as settings; anything unreadable reads as the defaults. */
export function healthSettings(stored: unknown): HealthCheckSettings {
  const v = typeof stored === "string" ? safeJson(stored) : stored;
  const parsed = HealthCheckSettingsSchema.safeParse(v ?? {});
  return parsed.success ? parsed.data : { enabled: true, interval_seconds: null };
}
const safeJson = (s: string): unknown => { try { return JSON.parse(s); } catch { return null; } };

/** Health of these sources (one query); a source never checked is absent (read it as UNKNOWN_HEALTH). */
export async function healthOf(db: CatalogDb, tenantId: string, ids: readonly string[]): Promise<Map<string, SourceHealth>> {
  if (ids.length === 0) return new Map();
  const r = await sql<HealthRow>`select ${HEALTH_SELECT} from data_source_health
    where tenant_id = ${tenantId} and source_id in (${sql.join(ids)})`.execute(db);
  return new Map(r.rows.map((row) => [row.source_id, toHealth(row)]));
}

/** Gives every active database source a health row (sources written by the Python system have none). */
export async function ensureHealthRows(db: CatalogDb): Promise<void> {
  await sql`insert into data_source_health (source_id, tenant_id)
    select s.id, s.tenant_id from data_sources s
    where s.is_active and s.type = 'database' and not exists (select 1 from data_source_health h where h.source_id = s.id)
    on conflict (source_id) do nothing`.execute(db);
}

/**
 * Takes up to `n` sources whose check is due and marks them claimed for `claimMs`:
 * a second scheduler (a lease handed over mid-round) skips them, and a scheduler
 * that dies mid-check leaves them due again once the claim ends.
 */
export async function claimDue(db: CatalogDb, n: number, claimMs: number): Promise<{ source_id: string; tenant_id: string }[]> {
  const r = await sql<{ source_id: string; tenant_id: string }>`update data_source_health h
    set claimed_until = now() + ${claimMs}::float8 * interval '1 millisecond'
    where h.source_id in (
      select d.source_id from data_source_health d join data_sources s on s.id = d.source_id
      where s.is_active and s.type = 'database'
        and coalesce((s.health_check ->> 'enabled')::boolean, true)
        and (d.next_check_at is null or d.next_check_at <= now())
        and (d.claimed_until is null or d.claimed_until <= now())
      order by d.next_check_at nulls first
      limit ${n}
      for update of d skip locked)
    returning h.source_id, h.tenant_id`.execute(db);
  return r.rows;
}

/** A claimed check that did not run (no connector answered): due again after `retryInMs`, state untouched. */
export async function releaseClaim(db: CatalogDb, sourceId: string, retryInMs: number): Promise<void> {
  await sql`update data_source_health set claimed_until = null, next_check_at = now() + ${retryInMs}::float8 * interval '1 millisecond'
    where source_id = ${sourceId}`.execute(db);
}

export interface RecordedCheck { health: SourceHealth; previous: HealthStatus }

/**
 * Stores a check and the health it leads to, keeps the last HEALTH_CHECKS_KEPT
 * checks, and schedules the next. Null when the source is gone.
 */
export async function recordCheck(db: CatalogDb, tenantId: string, id: string, r: CheckResult, policy: HealthPolicy): Promise<RecordedCheck | null> {
  return db.transaction().execute(async (tx) => {
    const src = await tx.selectFrom("data_sources").select(["health_check"])
      .where("id", "=", id).where("tenant_id", "=", tenantId).where("is_active", "=", true).where("type", "=", "database").executeTakeFirst();
    if (!src) return null;
    await sql`insert into data_source_health (source_id, tenant_id) values (${id}, ${tenantId}) on conflict (source_id) do nothing`.execute(tx);
    const prev = await tx.selectFrom("data_source_health").select(["status", "consecutive_failures"])
      .where("source_id", "=", id).forUpdate().executeTakeFirstOrThrow();
    const settings = healthSettings(src.health_check);
    const t = applyCheck({ status: asStatus(prev.status), consecutive_failures: prev.consecutive_failures }, r, policy,
      settings.interval_seconds ? settings.interval_seconds * 1000 : policy.intervalMs);
    const next = settings.enabled ? sql`now() + ${t.nextInMs}::float8 * interval '1 millisecond'` : sql`null`;
    const row = await sql<HealthRow>`update data_source_health set
        status = ${t.status}, checked_at = now(), latency_ms = ${t.latency_ms},
        last_success_at = ${t.success ? sql`now()` : sql`last_success_at`},
        error_code = ${t.error?.code ?? null}, error_message = ${t.error?.message ?? null},
        consecutive_failures = ${t.consecutive_failures}, next_check_at = ${next}, claimed_until = null
      where source_id = ${id} returning ${HEALTH_SELECT}`.execute(tx);
    await sql`insert into data_source_health_checks (source_id, tenant_id, status, latency_ms, error_code, error_message)
      values (${id}, ${tenantId}, ${t.status}, ${t.latency_ms}, ${t.error?.code ?? null}, ${t.error?.message ?? null})`.execute(tx);
    await sql`delete from data_source_health_checks where source_id = ${id} and id <= (
      select id from data_source_health_checks where source_id = ${id} order by id desc offset ${HEALTH_CHECKS_KEPT} limit 1)`.execute(tx);
    return { health: toHealth(row.rows[0]!), previous: asStatus(prev.status) };
  });
}

/** The last checks of a source, newest first. */
export async function listChecks(db: CatalogDb, tenantId: string, id: string): Promise<HealthCheck[]> {
  const r = await sql<{ checked_at: string; status: string; latency_ms: number | null; error_code: string | null; error_message: string | null }>`
    select ${iso("checked_at")} as checked_at, status, latency_ms, error_code, error_message from data_source_health_checks
    where source_id = ${id} and tenant_id = ${tenantId} order by id desc limit ${HEALTH_CHECKS_KEPT}`.execute(db);
  return r.rows.map((c) => ({ checked_at: c.checked_at, status: asStatus(c.status), latency_ms: c.latency_ms, error: errorOf(c.error_code, c.error_message) }));
}

/** Every active database source of a tenant with its health. */
export async function tenantHealth(db: CatalogDb, tenantId: string): Promise<{ id: string; name: string; db_type: string | null; health: SourceHealth }[]> {
  const r = await sql<HealthRow & { id: string; name: string; db_type: string | null }>`
    select s.id, s.name, s.db_type, h.source_id, coalesce(h.status, 'unknown') as status,
      ${iso("h.checked_at")} as checked_at, ${iso("h.last_success_at")} as last_success_at, h.latency_ms, h.error_code, h.error_message,
      coalesce(h.consecutive_failures, 0) as consecutive_failures, ${iso("h.next_check_at")} as next_check_at
    from data_sources s left join data_source_health h on h.source_id = s.id
    where s.tenant_id = ${tenantId} and s.is_active and s.type = 'database'`.execute(db);
  return r.rows.map((row) => ({ id: row.id, name: row.name, db_type: row.db_type, health: row.source_id ? toHealth(row) : UNKNOWN_HEALTH }));
}
