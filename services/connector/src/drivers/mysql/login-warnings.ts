import type { LoginWarning } from "@dsb/contracts";
import { loginWarnings } from "../login-warnings.ts";

/** The tested login's own global grants of SUPER and FILE (the grantee is spelled 'user'@'host' there). */
export const PRIVILEGES_SQL = `SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES
  WHERE GRANTEE = CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')
    AND PRIVILEGE_TYPE IN ('SUPER', 'FILE')`;

const FIX = "create a user with only SELECT on the database (GRANT SELECT ON db.* TO 'reader'@'%') and connect with that.";

/** Warnings for the privilege names PRIVILEGES_SQL returned. */
export function mysqlLoginWarnings(privileges: string[]): LoginWarning[] {
  const has = new Set(privileges.map((p) => p.toUpperCase()));
  const out: LoginWarning[] = [];
  if (has.has("SUPER")) out.push(loginWarnings.superuser("MySQL/MariaDB", FIX));
  if (has.has("FILE"))
    out.push(loginWarnings.serverFiles("MySQL/MariaDB", "has the FILE privilege, so it can read and write files on the database server", `REVOKE FILE ON *.* FROM it, or ${FIX}`));
  return out;
}
