import type { LoginWarning } from "@dsb/contracts";
import { loginWarnings } from "../login-warnings.ts";

const FIX = "create a login whose database user is only in db_datareader, and connect with that.";

/** Warnings for a login in the sysadmin or bulkadmin server role (IS_SRVROLEMEMBER; 1 means member). */
export function mssqlLoginWarnings(sysadmin: boolean, bulkadmin: boolean): LoginWarning[] {
  if (sysadmin) return [loginWarnings.superuser("SQL Server", FIX)];
  if (bulkadmin) return [loginWarnings.serverFiles("SQL Server", "is in the bulkadmin role, so BULK INSERT and OPENROWSET(BULK …) read server files", `remove it from bulkadmin, or ${FIX}`)];
  return [];
}
