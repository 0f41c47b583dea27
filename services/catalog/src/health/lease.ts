import type { NatsConnection } from "@nats-io/transport-node";
import { Kvm, type KV } from "@nats-io/kv";
import type { Logger } from "@dsb/runtime";

/** Says whether this replica may schedule health checks right now. */
export interface SchedulerLease {
  held(): boolean;
  stop(): Promise<void>;
}

/** Embedded mode: the only scheduler there is. */
export const soleLease: SchedulerLease = { held: () => true, stop: async () => undefined };

export const HEALTH_BUCKET = "dsb-health";
/** The lease bucket of a deployment (BUS_NAMESPACE keeps deployments on one NATS apart). */
export const healthBucket = (namespace?: string) => (namespace ? `${namespace}-${HEALTH_BUCKET}` : HEALTH_BUCKET);
const KEY = "scheduler";

/**
 * One scheduler among catalog replicas: a JetStream KV key in a bucket whose
 * max_age is the lease TTL. `create` succeeds only when no live key exists; the
 * holder renews (compare-and-set on its revision) every third of the TTL and
 * counts itself holder only until two thirds of the TTL after its last renewal
 * was sent, so a holder that stalls stops scheduling before anyone else can take
 * over. A dead holder's key expires after the TTL and the next `create` wins.
 */
export async function kvLease(nc: NatsConnection, opts: { bucket: string; replicaId: string; ttlMs: number; log: Logger }): Promise<SchedulerLease> {
  // @nats-io/kv may pin another nats-core version; the connection is the same at run time.
  const kv: KV = await new Kvm(nc as unknown as ConstructorParameters<typeof Kvm>[0]).create(opts.bucket, { ttl: opts.ttlMs, history: 1 });
  let revision = 0;
  let until = 0;
  let stopped = false;
  const held = () => !stopped && revision > 0 && Date.now() < until;

  let renewing = false;
  const renew = async () => {
    if (renewing || stopped) return;
    renewing = true;
    const sent = Date.now();
    const had = held();
    try {
      revision = had ? await kv.update(KEY, opts.replicaId, revision) : await kv.create(KEY, opts.replicaId);
      until = sent + (opts.ttlMs * 2) / 3;
      if (!had) opts.log.info({ replica: opts.replicaId }, "🩺 health scheduler lease taken");
    } catch {
      // Another replica holds it (wrong last sequence) or NATS is away: held() lapses with `until`.
      if (had && !held()) opts.log.warn({ replica: opts.replicaId }, "⚠️ health scheduler lease lost");
      if (!had) revision = 0;
    } finally {
      renewing = false;
    }
  };
  await renew();
  const timer = setInterval(() => void renew(), Math.max(100, opts.ttlMs / 3));
  timer.unref();
  return {
    held,
    stop: async () => {
      clearInterval(timer);
      const wasHeld = held();
      stopped = true;
      // Hand over at once instead of after the TTL.
      if (wasHeld) await kv.delete(KEY, { previousSeq: revision }).catch(() => undefined);
    },
  };
}
