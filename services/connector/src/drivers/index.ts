import type { DbType } from "@dsb/contracts";
import type { Driver } from "./types.ts";
import { postgresqlDriver } from "./postgresql/driver.ts";
import { redshiftDriver } from "./redshift/driver.ts";
import { mysqlDriver } from "./mysql/driver.ts";
import { mssqlDriver } from "./mssql/driver.ts";
import { bigqueryDriver } from "./bigquery/driver.ts";
import { clickhouseDriver } from "./clickhouse/driver.ts";
import { snowflakeDriver } from "./snowflake/driver.ts";

/** Every database type's driver. */
// Driver<any>: each entry is typed by its own config; callers pick by `config.type`.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const DRIVERS = {
  postgresql: postgresqlDriver,
  redshift: redshiftDriver,
  mysql: mysqlDriver,
  mssql: mssqlDriver,
  bigquery: bigqueryDriver,
  clickhouse: clickhouseDriver,
  snowflake: snowflakeDriver,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
} satisfies Record<DbType, Driver<any>>;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const driverFor = (type: DbType): Driver<any> => DRIVERS[type];
