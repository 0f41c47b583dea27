/** Redshift configs share the PostgreSQL options resolver (connection string, ssl modes). */
export { RedshiftConfigSchema, resolvePgOptions, pgSsl, parseConnectionString } from "../postgresql/config.ts";
