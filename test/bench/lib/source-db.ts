import pg from "pg";
import { adminQuery, onCleanup, pgUrl, uniqueName } from "./setup.ts";
import { callJson } from "./http.ts";
import type { Ctx } from "./scenario.ts";

/** A scratch PostgreSQL database (dropped at the end of the run) and a client on it. */
export async function scratchDb(prefix: string): Promise<{ name: string; url: string; client: pg.Client }> {
  const name = uniqueName(prefix);
  await adminQuery(`create database ${name}`);
  const client = new pg.Client({ connectionString: pgUrl(name) });
  onCleanup(async () => {
    await client.end().catch(() => undefined);
    await adminQuery(`drop database if exists ${name} with (force)`);
  });
  await client.connect();
  return { name, url: pgUrl(name), client };
}

/** The backend of a COPY running on this scratch database (waited for up to ~2 s), for its CPU time from /proc. */
export async function copyBackend(db: { name: string; client: pg.Client }): Promise<number | undefined> {
  for (let i = 0; i < 100; i++) {
    const r = await db.client.query<{ pid: number }>("select pid from pg_stat_activity where datname = $1 and state = 'active' and query ilike 'copy%' and pid <> pg_backend_pid() limit 1", [db.name]);
    if (r.rows[0]) return r.rows[0].pid;
    await new Promise((ok) => setTimeout(ok, 20));
  }
  return undefined;
}

/** Registers a database as a source through the gateway at url (test, store, introspect); returns its id. */
export async function connectSource(ctx: Ctx, database: string, name: string, url = ctx.cluster.url): Promise<string> {
  const body = await callJson<{ data_source: { id: string } }>(url, ctx.token, "POST", "/api/data/database/connect", {
    type: "postgres", host: "127.0.0.1", port: 5432, database, username: "postgres", password: "unused-trust-auth", name,
  });
  return body.data_source.id;
}

/** The export scenarios' table: `rows` rows × 8 mixed columns (quoted text with commas and quotes, NULLs). */
export async function createExportTable(client: pg.Client, rows: number): Promise<void> {
  await client.query(`create table export_t as
    select g::bigint as id, (g % 1000)::int as qty, g * 0.37::float8 as price, round((g % 100000) / 7.0, 2)::numeric(12,2) as amount,
           'customer ' || (g % 50000) || case when g % 10 = 0 then ', "vip"' else '' end as name,
           date '2020-01-01' + (g % 2000)::int as day, timestamptz '2020-01-01 00:00:00+00' + g * interval '37 seconds' as at,
           case when g % 7 = 0 then null else g % 3 = 0 end as flag
    from generate_series(1, ${rows}) g`);
  await client.query("vacuum analyze export_t");
}
