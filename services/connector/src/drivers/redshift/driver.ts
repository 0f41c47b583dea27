import type { ConfigOf } from "@dsb/contracts";
import type { Driver } from "../types.ts";
import { createPgDriver } from "../postgresql/driver.ts";
import { introspectRedshift } from "../postgresql/introspect.ts";

/**
 * Redshift speaks the PostgreSQL wire protocol: the pg driver with Redshift's
 * catalog (information_schema + pg_class basics, which also run on PostgreSQL).
 * Read-only transactions, statement_timeout and pg_cancel_backend all exist there.
 */
export const redshiftDriver: Driver<ConfigOf<"redshift">> = createPgDriver<ConfigOf<"redshift">>({
  type: "redshift", defaultPort: 5439, introspect: introspectRedshift,
});
