import { performance } from "node:perf_hooks";
import type { DatabaseConfig } from "@dsb/contracts";
import { connectChecked, dialTargets } from "../address-policy.ts";
import { mapDriverError } from "../driver-errors.ts";
import { driverFor } from "../drivers/index.ts";
import { withProtocolCheck } from "../drivers/shared/protocol-check.ts";
import type { Connection } from "../drivers/types.ts";
import type { ConnectorDeps } from "./deps.ts";

/** connector.test: connects to a config being tested or connected, proves the login, closes. */
export async function handleTest(deps: ConnectorDeps, config: DatabaseConfig) {
  const t0 = performance.now();
  try {
    const driver = await driverFor(config.type);
    const test = async (conn: Connection) => {
      try {
        return { ...(await conn.test()), hostKey: conn.sshHostKeySha256?.() };
      } finally {
        await conn.close().catch(() => undefined);
      }
    };
    let tested: Awaited<ReturnType<typeof test>>;
    if ("ssh" in config && config.ssh) {
      // Behind SSH the database is reached from the bastion: no protocol probe from here (it would dial the database host directly).
      tested = await test(await connectChecked(driver, config, deps.policy));
    } else {
      const targets = await dialTargets(driver, config, deps.policy);
      // A port of another protocol is told as such (probed on failure, or when the test hangs).
      tested = await withProtocolCheck(config, targets, async () => test(await driver.connect(config, targets)));
    }
    const { serverVersion, warnings = [], hostKey } = tested;
    return {
      message: "Connection successful", latency_ms: Math.round(performance.now() - t0), server_version: serverVersion, warnings,
      ...(hostKey ? { ssh_host_key_sha256: hostKey } : {}),
    };
  } catch (e) {
    throw mapDriverError(e, "connect");
  }
}
