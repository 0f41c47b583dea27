import { parseDatabaseConfig, type DatabaseConfig } from "@dsb/contracts";
import { connectChecked } from "./address-policy.ts";
import { mapDriverError } from "./driver-errors.ts";
import { driverFor } from "./drivers/index.ts";
import type { Connection } from "./drivers/types.ts";
import type { ConnectorDeps, ResolvedSource } from "./handlers/deps.ts";
import type { Lease } from "./pools.ts";

const stripMarkers = (c: Record<string, unknown>) => Object.fromEntries(Object.entries(c).filter(([k]) => !k.startsWith("__enc_")));

/** The key of a source's cached config (tenant and id). */
export const configKey = (tenantId: string, id: string) => `${tenantId}\u0000${id}`;

/**
 * The decrypted config of a stored source, from the catalog (cached: it is on every query's path).
 * `version`: the one the caller saw; a cached config of another version is stale (a change event not heard yet).
 */
export function resolveSource(deps: Pick<ConnectorDeps, "bus" | "configs">, tenantId: string, id: string, version?: string): Promise<ResolvedSource> {
  const key = configKey(tenantId, id);
  const cached = deps.configs.get(key);
  if (version && cached && cached.version !== version) deps.configs.delete(key);
  return deps.configs.getOrLoad(key, async () => {
    const r = await deps.bus.request("catalog.config.resolve", { tenant_id: tenantId, id });
    const config = parseDatabaseConfig({ ...stripMarkers(r.config), type: r.config.type ?? r.db_type });
    return { id: r.id, version: r.version, config, driver: await driverFor(config.type) };
  });
}

/** A pooled connection of a stored source (address policy applied when the pool opens). */
export async function leaseSource(deps: ConnectorDeps, src: ResolvedSource): Promise<Lease> {
  try {
    return await deps.pools.lease(src.id, src.version, () => connectChecked(src.driver, src.config, deps.policy), src.driver.type);
  } catch (e) {
    throw mapDriverError(e, "connect");
  }
}

/** Opens a connection for a config being tested or connected; the caller closes it. */
export async function throwaway(deps: Pick<ConnectorDeps, "policy">, config: DatabaseConfig): Promise<Connection> {
  try {
    return await connectChecked(await driverFor(config.type), config, deps.policy);
  } catch (e) {
    throw mapDriverError(e, "connect");
  }
}
