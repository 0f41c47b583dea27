import type pg from "pg";
import type { LoginWarning } from "@dsb/contracts";
import { loginWarnings } from "../login-warnings.ts";

/** Predefined roles that reach outside the database (PostgreSQL 11+). */
const SERVER_ROLES = ["pg_execute_server_program", "pg_read_server_files", "pg_write_server_files"];

const PG_FIX = "create a role with LOGIN and grant it only SELECT (or pg_read_all_data), and connect with that.";

/**
 * Whether the tested login is a superuser or may reach server files and programs
 * (one catalog query on the session being tested). Best effort: a catalog that
 * cannot be read gives no warning rather than a failed test.
 */
export async function pgLoginWarnings(client: pg.PoolClient, flavor: "postgresql" | "redshift"): Promise<LoginWarning[]> {
  try {
    if (flavor === "redshift") {
      const r = await client.query<{ su: boolean }>("select usesuper as su from pg_catalog.pg_user where usename = current_user");
      return r.rows[0]?.su ? [loginWarnings.superuser("Redshift", "create a user without CREATEUSER and grant it only SELECT.")] : [];
    }
    const r = await client.query<{ su: boolean; roles: string[] }>(
      `select r.rolsuper as su, array(select g.rolname::text from pg_catalog.pg_roles g
         where g.rolname = any($1::text[]) and pg_catalog.pg_has_role(current_user, g.oid, 'MEMBER') order by 1) as roles
       from pg_catalog.pg_roles r where r.rolname = current_user`,
      [SERVER_ROLES],
    );
    const row = r.rows[0];
    if (!row) return [];
    if (row.su) return [loginWarnings.superuser("PostgreSQL", PG_FIX)];
    if (row.roles.length > 0)
      return [loginWarnings.serverFiles("PostgreSQL", `is a member of ${row.roles.join(", ")}, so it can read or write server files or run programs`, `revoke ${row.roles.join(", ")} from it. ${PG_FIX}`)];
    return [];
  } catch {
    return [];
  }
}
