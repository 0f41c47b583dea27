import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { JetStreamApiCodes, JetStreamApiError, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { Claim, SharedFlight } from "./store.ts";

/** How long a claim lives without renewal: the longest a replica that died mid-query keeps others waiting. */
export const CLAIM_MS = 5_000;
/** The claims bucket next to a cache bucket. */
export const claimsBucket = (cacheBucket: string) => `${cacheBucket}-claims`;

const RUNNING = new TextEncoder().encode("run");
const STORED = new TextEncoder().encode("stored");
const NONE = new TextEncoder().encode("none");
const same = (a: Uint8Array, b: Uint8Array) => a.byteLength === b.byteLength && a.every((x, i) => x === b[i]);

const takenError = (e: unknown) => e instanceof JetStreamApiError
  && (e.code === JetStreamApiCodes.StreamWrongLastSequence || e.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);

/**
 * Single flight across gateway replicas (distributed mode). A replica about to run a
 * cache miss claims the key with one KV `create` in a bucket of claims whose max_age is
 * CLAIM_MS (nats-server 2.9 has no per-message TTL): the winner runs, renews every third
 * of it, and when done marks the claim stored/none and purges it (off the response path;
 * a purge leaves no marker, so the next claim of the key is again one `create`). A replica
 * whose `create` fails waits: it subscribes to the key's subject in both buckets (the
 * winner's value, and its claim's renewals and end), and after CLAIM_MS without news from
 * a claim still there (its holder died) the claim has aged out: it claims the key itself
 * or runs the query unclaimed. The messages are only a doorbell; the caller reads the
 * entry from the store, and runs the query when it is not there.
 */
export class KvFlight implements SharedFlight {
  private constructor(
    private readonly nc: NatsConnection, private readonly claims: KV, private readonly jsm: JetStreamManager,
    private readonly buckets: { values: string; claims: string }, private readonly claimMs: number,
    private readonly log?: { warn(o: object, m: string): void },
  ) {}

  static async open(nc: NatsConnection, opts: { valueBucket: string; claimMs?: number; log?: { warn(o: object, m: string): void } }): Promise<KvFlight> {
    const claimMs = opts.claimMs ?? CLAIM_MS;
    const bucket = claimsBucket(opts.valueBucket);
    // @nats-io/kv may pin another nats-core version; the connection is the same at run time.
    const claims = await new Kvm(nc as unknown as ConstructorParameters<typeof Kvm>[0]).create(bucket, { history: 1, ttl: claimMs });
    return new KvFlight(nc, claims, await jetstreamManager(nc), { values: opts.valueBucket, claims: bucket }, claimMs, opts.log);
  }

  async acquire(key: string): Promise<Claim | "stored" | null> {
    try {
      return this.held(key, await this.claims.create(key, RUNNING));
    } catch (e) {
      if (!takenError(e)) return this.unclaimed(e);
    }
    try {
      return await this.wait(key);
    } catch (e) {
      return this.unclaimed(e);
    }
  }

  /** NATS trouble: the query runs here, as it would without a shared cache. */
  private unclaimed(e: unknown): null {
    this.log?.warn({ err: (e as Error).message }, "⚠️ query cache: claim failed (running the query here)");
    return null;
  }

  private held(key: string, revision: number): Claim {
    let rev = revision;
    let lost = false;
    // The last renewal: the release waits for it, so it does not compare-and-set against a revision just replaced.
    let renewal: Promise<unknown> = Promise.resolve();
    const renew = setInterval(() => {
      renewal = this.claims.update(key, RUNNING, rev).then((r) => { rev = r; }, () => { lost = true; clearInterval(renew); });
    }, this.claimMs / 3);
    renew.unref();
    return {
      release: (stored: boolean) => {
        clearInterval(renew);
        // The end message tells waiting replicas at once; the purge (ours only: up to that message) leaves the key free.
        void renewal
          .then(() => (lost ? undefined : this.claims.update(key, stored ? STORED : NONE, rev)
            .then((end) => this.jsm.streams.purge(`KV_${this.buckets.claims}`, { filter: `$KV.${this.buckets.claims}.${key}`, seq: end + 1 }))))
          .catch(() => undefined);
      },
    };
  }

  /** Another replica holds the claim: until its value is written, its claim ends, or it ages out. */
  private async wait(key: string): Promise<Claim | "stored" | null> {
    // A message may come while no one is waiting for it (during a get): it is kept until asked for.
    let rang: "value" | "claim" | null = null;
    let wake: (() => void) | null = null;
    const bell = (why: "value" | "claim") => () => {
      if (rang !== "value") rang = why;
      wake?.();
    };
    const next = () => new Promise<"value" | "claim" | "quiet">((resolve) => {
      const take = () => { const why = rang!; rang = null; wake = null; resolve(why); };
      if (rang) return take();
      const timer = setTimeout(() => { wake = null; resolve("quiet"); }, this.claimMs);
      wake = () => { clearTimeout(timer); take(); };
    });
    const subs: Subscription[] = [
      this.nc.subscribe(`$KV.${this.buckets.values}.${key}`, { callback: bell("value") }),
      this.nc.subscribe(`$KV.${this.buckets.claims}.${key}`, { callback: bell("claim") }),
    ];
    try {
      await this.nc.flush();
      let seen = 0;
      for (;;) {
        const claim = await this.claims.get(key);
        if (rang === "value") return "stored";
        // Gone: it ended before we listened (its value, if any, is in the store), or it aged out.
        if (!claim || claim.operation !== "PUT" || same(claim.value, STORED)) return "stored";
        if (same(claim.value, NONE)) return null;
        if (claim.revision === seen) {
          // No renewal for CLAIM_MS, yet not expired by the server: take it over (compare-and-set), else run here.
          try {
            return this.held(key, await this.claims.update(key, RUNNING, claim.revision));
          } catch {
            return null;
          }
        }
        seen = claim.revision;
        if ((await next()) === "value") return "stored";
      }
    } finally {
      for (const s of subs) s.unsubscribe();
    }
  }
}
