import { driverSuite } from "../suite.ts";
import { pgHarness } from "../postgresql/harness.ts";

// Redshift's code (catalog queries, read-only, cancel) against the local PostgreSQL.
driverSuite(pgHarness("redshift"));
