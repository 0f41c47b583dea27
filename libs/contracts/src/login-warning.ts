import { z } from "zod";

/**
 * What a connection test can warn about without failing: the login works but
 * holds more power than reading data needs.
 * - SUPERUSER_LOGIN: a superuser (PostgreSQL rolsuper, Redshift usesuper, MySQL/MariaDB SUPER or ALL on *.*,
 *   SQL Server sysadmin).
 * - SERVER_FILE_ACCESS: may read or write server files or run programs (PostgreSQL pg_read_server_files,
 *   pg_write_server_files, pg_execute_server_program; MySQL/MariaDB FILE; SQL Server bulkadmin).
 */
export const LOGIN_WARNING_CODES = ["SUPERUSER_LOGIN", "SERVER_FILE_ACCESS"] as const;
export type LoginWarningCode = (typeof LOGIN_WARNING_CODES)[number];

/** One warning of `database/test` and `database/connect`: a stable code and a sentence saying what to do. */
export const LoginWarningSchema = z.object({
  code: z.enum(LOGIN_WARNING_CODES),
  message: z.string(),
}).meta({ description: "The login works but can do more than read data; the message says which role to use instead" });
export type LoginWarning = z.infer<typeof LoginWarningSchema>;
