import { DATABASES, type DatabaseConfig } from "@dsb/contracts";
import { DriverError, type DialTarget } from "../types.ts";
import { expectedProtocol, probeProtocol, wrongProtocolMessage } from "./protocol-probe.ts";

/** How long a connection test may run before the port is probed alongside it. */
const PATIENCE_MS = 1000;

/**
 * True when the failure is the server's own answer in the expected protocol (a
 * PostgreSQL SQLSTATE such as 28P01, a MySQL ER_* error): a wrong password needs no probe.
 */
function answeredInProtocol(e: DriverError): boolean {
  const code = (e.cause as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && (/^[0-9A-Z]{5}$/.test(code) || code.startsWith("ER_"));
}

/**
 * Runs a connection attempt (`attempt`: connect and test) and, when it fails
 * with a connection error or is still pending after a second, probes the port:
 * a server of another protocol (MySQL behind a PostgreSQL config, PostgreSQL
 * behind a MySQL one, which waits silently for the client) turns into one
 * sentence saying so, at once. Anything else keeps the driver's own error.
 */
export async function withProtocolCheck<T>(config: DatabaseConfig, targets: readonly DialTarget[], attempt: () => Promise<T>): Promise<T> {
  const expected = expectedProtocol(config.type, config as { protocol?: string });
  const target = targets[0];
  if (!expected || !target) return attempt();
  const product = { label: DATABASES[config.type].label, port: DATABASES[config.type].default_port };
  const verdict = async (): Promise<string | null> => wrongProtocolMessage(target, expected, await probeProtocol(target), product);

  const running = attempt();
  let timer: NodeJS.Timeout | undefined;
  let wrong: string | null = null;
  // Resolves only when the probe finds another protocol; otherwise the attempt decides.
  const watchdog = new Promise<"wrong">((resolve) => {
    timer = setTimeout(() => {
      void verdict().then((m) => {
        wrong = m;
        if (m) resolve("wrong");
      });
    }, PATIENCE_MS);
  });
  try {
    const r = await Promise.race([running.then((value) => ({ value })), watchdog]);
    if (r === "wrong") throw new DriverError("connection", wrong ?? "");
    return r.value;
  } catch (e) {
    if (e instanceof DriverError && e.kind === "connection" && wrong === null && !answeredInProtocol(e)) {
      // The attempt failed by itself: a different protocol explains it better than the driver's words.
      const m = await verdict();
      if (m) throw new DriverError("connection", m, { cause: e });
    }
    throw e;
  } finally {
    clearTimeout(timer);
    // An attempt outrun by the watchdog still settles (and closes its connection) in the background.
    running.catch(() => undefined);
  }
}
