import type { ConnectionOptions } from "snowflake-sdk";
import type { ConfigOf } from "@dsb/contracts";
import { configError } from "../shared/config-error.ts";

export type SnowflakeConfig = ConfigOf<"snowflake">;

/** Account identifiers: org-account, legacy locator with region (xy12345.eu-central-1), etc. */
const ACCOUNT_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** The host and port the SDK will reach: access_url's, else <account>.snowflakecomputing.com. */
export function snowflakeTarget(config: SnowflakeConfig): { hostname: string; port: number } {
  if (config.access_url) {
    const url = new URL(config.access_url);
    return { hostname: url.hostname.replace(/^\[|\]$/g, ""), port: url.port ? Number(url.port) : url.protocol === "http:" ? 80 : 443 };
  }
  if (config.host) return { hostname: config.host, port: config.port };
  if (!ACCOUNT_RE.test(config.account)) throw configError("Snowflake account must look like orgname-accountname or a locator such as xy12345.eu-central-1");
  return { hostname: `${config.account.replace(/_/g, "-")}.snowflakecomputing.com`.toLowerCase(), port: 443 };
}

/**
 * The one place a config becomes snowflake-sdk options. Authentication: key pair when
 * private_key is set, OAuth when token is set, else password.
 */
export function snowflakeOptions(config: SnowflakeConfig): ConnectionOptions {
  const t = snowflakeTarget(config);
  const accessUrl = config.access_url ?? `https://${t.hostname}${t.port === 443 ? "" : `:${t.port}`}`;
  const auth: Partial<ConnectionOptions> = config.private_key
    ? { authenticator: "SNOWFLAKE_JWT", privateKey: config.private_key, ...(config.private_key_passphrase ? { privateKeyPass: config.private_key_passphrase } : {}) }
    : config.token
      ? { authenticator: "OAUTH", token: config.token }
      : { authenticator: "SNOWFLAKE", password: config.password ?? "" };
  return {
    account: config.account,
    username: config.username,
    accessUrl,
    ...auth,
    ...(config.warehouse ? { warehouse: config.warehouse } : {}),
    ...(config.database ? { database: config.database } : {}),
    ...(config.schema ? { schema: config.schema } : {}),
    ...(config.role ? { role: config.role } : {}),
    application: "dsb-connector",
    // Fail a dead endpoint in seconds, not after the SDK's minutes of login retries.
    timeout: 15_000,
    sfRetryMaxLoginRetries: 1,
    retryTimeout: 15,
    clientSessionKeepAlive: false,
  } as ConnectionOptions;
}
