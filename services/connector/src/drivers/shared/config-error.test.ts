import { describe, expect, it } from "vitest";
import { AppError, parseDatabaseConfig } from "@dsb/contracts";
import { driverFor } from "../index.ts";

/** A connection_string each driver cannot parse, in the shape it would otherwise accept. */
const BAD_CONNECTION_STRINGS = {
  postgresql: "postgresql://[::1",
  mysql: "mysql://[::1",
  mssql: "mssql://[::1",
  mongodb: "mongodb://",
} as const;

describe("config errors", () => {
  it.each(Object.entries(BAD_CONNECTION_STRINGS))("a malformed %s connection_string is VALIDATION (400), as in every driver", async (type, cs) => {
    const driver = await driverFor(type as keyof typeof BAD_CONNECTION_STRINGS);
    const config = parseDatabaseConfig({ type, connection_string: cs, database: "db" });
    const err = await Promise.resolve().then(() => driver.targets(config)).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: "VALIDATION", status: 400 });
  });

  it("unusable BigQuery credentials and a malformed Snowflake account are VALIDATION too", async () => {
    const bq = await driverFor("bigquery");
    const bqErr = await bq.connect(parseDatabaseConfig({ type: "bigquery", project_id: "p", credentials: "not json" }), []).then(() => null, (e: unknown) => e);
    expect(bqErr).toMatchObject({ code: "VALIDATION" });
    const sf = await driverFor("snowflake");
    const sfErr = await Promise.resolve().then(() => sf.targets(parseDatabaseConfig({ type: "snowflake", account: "bad account!", username: "u", password: "p" })))
      .then(() => null, (e: unknown) => e);
    expect(sfErr).toMatchObject({ code: "VALIDATION" });
  });
});
