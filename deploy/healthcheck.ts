/**
 * Exec probe for the NATS micro-services (catalog, connector, ingestion), which serve no HTTP:
 *
 *   node dist/healthcheck.js ready <service>
 *   node dist/healthcheck.js live <service>
 *
 * Both ask `$SRV.PING.<service>` with the container's own NATS credentials and look for the
 * answer of this replica (its `metadata.replica` equals REPLICA_ID; any replica counts when
 * REPLICA_ID is unset, which k8s always sets to the pod name). BUS_NAMESPACE is honoured.
 * - ready: exit 0 only when this replica answers; a pod without NATS takes no traffic.
 * - live: exit 1 only when NATS answers but this replica does not (a stuck event loop or a lost
 *   service registration). A NATS outage passes: the services reconnect by themselves, and
 *   restarting every pod during an outage would only add a thundering herd.
 */
import { connect } from "@nats-io/transport-node";
import { natsConnectionOptions } from "@dsb/bus/nats";

export type ProbeMode = "ready" | "live";
export interface ProbeResult { ok: boolean; reason: string }

const SERVICES = ["catalog", "connector", "ingestion"] as const;

/** Runs one probe against the NATS of `env`; never throws. */
export async function probe(mode: ProbeMode, service: string, env: Record<string, string | undefined> = process.env, timeoutMs = 2_000): Promise<ProbeResult> {
  if (!env.NATS_URL) return { ok: false, reason: "NATS_URL is not set; the probe only applies to the distributed mode" };
  const replica = env.REPLICA_ID?.trim() || undefined;
  let nc;
  try {
    nc = await connect({
      ...natsConnectionOptions({ servers: env.NATS_URL, name: `healthcheck-${service}`, user: env.NATS_USER, pass: env.NATS_PASS, token: env.NATS_TOKEN }),
      // One attempt, bounded: a probe must answer within its timeoutSeconds.
      waitOnFirstConnect: false, reconnect: false, maxReconnectAttempts: 0, timeout: timeoutMs,
    });
  } catch (e) {
    const why = `NATS unreachable (${e instanceof Error ? e.message : String(e)})`;
    return mode === "live" ? { ok: true, reason: `${why}; not this replica's fault` } : { ok: false, reason: why };
  }
  try {
    // With BUS_NAMESPACE the bus registers the service as `<namespace>-<service>` (libs/bus Bus.serviceName).
    const name = env.BUS_NAMESPACE?.trim() ? `${env.BUS_NAMESPACE.trim()}-${service}` : service;
    const replies = await nc.requestMany(`$SRV.PING.${name}`, undefined, { strategy: "stall", stall: 300, maxWait: timeoutMs });
    const seen: string[] = [];
    for await (const m of replies) {
      if (m.data.length === 0) continue; // no-responders status message
      const r = JSON.parse(new TextDecoder().decode(m.data)) as { id?: string; metadata?: Record<string, string> };
      const id = r.metadata?.replica ?? r.id ?? "?";
      if (!replica || id === replica) return { ok: true, reason: `${service} replica ${id} answers` };
      seen.push(id);
    }
    return { ok: false, reason: `${service} replica ${replica ?? "(any)"} does not answer $SRV.PING (answering: ${seen.join(", ") || "none"})` };
  } catch (e) {
    return { ok: false, reason: `ping failed: ${e instanceof Error ? e.message : String(e)}` };
  } finally {
    await nc.close().catch(() => undefined);
  }
}

if (process.argv[1] && import.meta.url === `file://${process.argv[1]}`) {
  const [mode, service = ""] = process.argv.slice(2);
  if ((mode !== "ready" && mode !== "live") || !SERVICES.includes(service as (typeof SERVICES)[number])) {
    console.error(`usage: node dist/healthcheck.js ready|live ${SERVICES.join("|")}`);
    process.exit(2);
  }
  const r = await probe(mode, service);
  (r.ok ? console.log : console.error)(`${mode} ${service}: ${r.reason}`);
  process.exit(r.ok ? 0 : 1);
}
