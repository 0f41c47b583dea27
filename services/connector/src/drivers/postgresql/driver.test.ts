import { driverSuite } from "../suite.ts";
import { pgHarness } from "./harness.ts";

driverSuite(pgHarness("postgresql"));
