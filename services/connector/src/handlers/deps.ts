import type { Bus, CursorRegistry, TtlCache } from "@dsb/bus";
import type { DatabaseConfig } from "@dsb/contracts";
import type { Logger } from "@dsb/runtime";
import type { AddressPolicyOptions } from "../address-policy.ts";
import type { CancelRegistry } from "../cancels.ts";
import type { Driver } from "../drivers/types.ts";
import type { CursorMeta, EndedCursor } from "../pages.ts";
import type { PoolRegistry } from "../pools.ts";

/** What every connector handler works with; built once by startConnector. */
export interface ConnectorDeps {
  bus: Bus;
  pools: PoolRegistry;
  cursors: CursorRegistry<CursorMeta, EndedCursor>;
  policy: AddressPolicyOptions;
  replicaId: string;
  maxRows: number;
  log: Logger;
  /** Resolved configs by tenant and source; delete events evict, the TTL bounds a missed event. */
  configs: TtlCache<ResolvedSource>;
  /** Running queries by the gateway's query id, for `gateway.events.query.cancelled`. */
  cancels: CancelRegistry;
}

// Driver<any>: the registry hands back the driver of the config's own type.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDriver = Driver<any>;

/** A stored source's decrypted config, the version its pools are keyed by, and its driver. */
export interface ResolvedSource { id: string; version: string; config: DatabaseConfig; driver: AnyDriver }
