import type { DbType } from "@dsb/contracts";
import type { Driver } from "./types.ts";

/**
 * Every database type's driver, loaded on first use: the cloud SDKs (snowflake-sdk, mongodb,
 * @google-cloud/bigquery, tedious) weigh ~100 MB of memory that a connector serving
 * only PostgreSQL should not carry.
 */
// Driver<any>: each entry is typed by its own config; callers pick by `config.type`.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const DRIVER_LOADERS = {
  postgresql: async () => (await import("./postgresql/driver.ts")).postgresqlDriver,
  redshift: async () => (await import("./redshift/driver.ts")).redshiftDriver,
  mysql: async () => (await import("./mysql/driver.ts")).mysqlDriver,
  mssql: async () => (await import("./mssql/driver.ts")).mssqlDriver,
  bigquery: async () => (await import("./bigquery/driver.ts")).bigqueryDriver,
  clickhouse: async () => (await import("./clickhouse/driver.ts")).clickhouseDriver,
  snowflake: async () => (await import("./snowflake/driver.ts")).snowflakeDriver,
  mongodb: async () => (await import("./mongodb/driver.ts")).mongodbDriver,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
} satisfies Record<DbType, () => Promise<Driver<any>>>;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const driverFor = (type: DbType): Promise<Driver<any>> => DRIVER_LOADERS[type]();
