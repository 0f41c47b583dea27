import { driverSuite } from "../../../../../test/support/drivers/suite.ts";
import { pgHarness } from "../../../../../test/support/drivers/postgresql.ts";

// Redshift's code (catalog queries, read-only, cancel) against the local PostgreSQL.
driverSuite(pgHarness("redshift"));
