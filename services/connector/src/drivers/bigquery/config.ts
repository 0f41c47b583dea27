import type { BigQueryOptions } from "@google-cloud/bigquery";
import { JWT } from "google-auth-library";
import type { ConfigOf } from "@dsb/contracts";
import { configError } from "../shared/config-error.ts";

export type BigqueryConfig = ConfigOf<"bigquery">;

/** Where the SDK sends requests when no api_endpoint is set. */
export const BIGQUERY_DEFAULT_HOST = "bigquery.googleapis.com";

/** The host and port the SDK will reach: api_endpoint's, or Google's. */
export function bigqueryTarget(config: BigqueryConfig): { hostname: string; port: number } {
  if (!config.api_endpoint) return { hostname: BIGQUERY_DEFAULT_HOST, port: 443 };
  const url = new URL(config.api_endpoint);
  return { hostname: url.hostname.replace(/^\[|\]$/g, ""), port: url.port ? Number(url.port) : url.protocol === "http:" ? 80 : 443 };
}

/** A service-account key, the only credential type this driver accepts. */
export interface ServiceAccountKey { type: "service_account"; client_email: string; private_key: string; private_key_id?: string; project_id?: string }

/** Parses credentials (an object or its JSON text) and checks it is a service-account key. */
export function serviceAccount(config: BigqueryConfig): ServiceAccountKey {
  let raw: unknown = config.credentials;
  if (raw === undefined) throw configError("BigQuery credentials are required: paste the service-account JSON key of an account with BigQuery Job User and Data Viewer roles");
  if (typeof raw === "string") {
    try {
      raw = JSON.parse(raw);
    } catch {
      throw configError("BigQuery credentials are not valid JSON: paste the whole service-account key file");
    }
  }
  const key = raw as Partial<ServiceAccountKey> | null;
  if (!key || typeof key !== "object" || key.type !== "service_account" || typeof key.client_email !== "string" || typeof key.private_key !== "string") {
    throw configError('BigQuery credentials must be a service-account key (JSON with "type": "service_account", client_email and private_key)');
  }
  return key as ServiceAccountKey;
}

/**
 * The one place a config becomes SDK options. Credentials sign a self-signed JWT
 * (`useJWTAccessWithScope`), so the SDK never calls Google's OAuth token endpoint:
 * the only host it reaches is the API endpoint the address policy checked.
 */
export function bigqueryOptions(config: BigqueryConfig): BigQueryOptions {
  const key = serviceAccount(config);
  return {
    projectId: config.project_id,
    ...(config.location ? { location: config.location } : {}),
    ...(config.api_endpoint ? { apiEndpoint: config.api_endpoint.replace(/\/+$/, "") } : {}),
    authClient: selfSignedJwt(key),
    // The driver owns timeouts and cancellation; SDK retries would re-run statements.
    autoRetry: false,
    maxRetries: 0,
  };
}

/** A JWT client that signs its own tokens (no OAuth token endpoint round trip). */
function selfSignedJwt(key: ServiceAccountKey): JWT {
  const jwt = new JWT({ email: key.client_email, key: key.private_key, keyId: key.private_key_id, scopes: ["https://www.googleapis.com/auth/bigquery"] });
  // A property, not a constructor option, in google-auth-library 10.
  jwt.useJWTAccessWithScope = true;
  return jwt;
}
