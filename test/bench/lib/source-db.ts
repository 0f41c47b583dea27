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

/** Registers a database as a source through the gateway at url (test, store, introspect); returns its id. */
export async function connectSource(ctx: Ctx, database: string, name: string, url = ctx.cluster.url): Promise<string> {
  const body = await callJson<{ data_source: { id: string } }>(url, ctx.token, "POST", "/api/data/database/connect", {
    type: "postgres", host: "127.0.0.1", port: 5432, database, username: "postgres", password: "unused-trust-auth", name,
  });
  return body.data_source.id;
}
