import type { LoginWarning } from "@dsb/contracts";

/** Shared wording of the connection-test warnings; each driver decides when they apply. */
export const loginWarnings = {
  superuser: (db: string, fix: string): LoginWarning => ({
    code: "SUPERUSER_LOGIN",
    message: `This ${db} login is a superuser: it can read and write server files, run programs and change server settings. ` +
      `Read-only mode refuses such statements, but a login that can only read is the real guarantee: ${fix}`,
  }),
  serverFiles: (db: string, what: string, fix: string): LoginWarning => ({
    code: "SERVER_FILE_ACCESS",
    message: `This ${db} login ${what}. Read-only mode refuses such statements, but a login without it is the real guarantee: ${fix}`,
  }),
};
