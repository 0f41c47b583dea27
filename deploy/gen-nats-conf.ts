/**
 * Generates deploy/nats.conf from the bus contracts, so the subject permissions cannot drift
 * from `callers` in libs/contracts/src/subjects.ts.
 *
 *   npx tsx deploy/gen-nats-conf.ts          # rewrite deploy/nats.conf and deploy/k8s/nats/nats.conf
 *   npx tsx deploy/gen-nats-conf.ts --check  # exit 1 if the committed file is stale
 *
 * test/deploy/nats-conf.test.ts fails when the committed file differs from this output.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { EVENT_ROUTES, SUBJECTS, SERVICES, type Caller, type ServiceName } from "@dsb/contracts";

/** Every NATS user, one per deployable. The services serve their subjects; the gateway only its fanout ones (`gateway.query.cancel`). */
export const NATS_USERS = ["gateway", "catalog", "connector", "ingestion"] as const satisfies readonly Caller[];
export type NatsUser = (typeof NATS_USERS)[number];

/** JetStream Object Store bucket holding uploads in distributed mode, and who may use it. */
export const UPLOAD_BUCKET = "dsb-uploads";
export const BUCKET_USERS: readonly NatsUser[] = ["gateway", "ingestion"];

/** JetStream KV bucket of the health scheduler's lease (services/catalog/src/health/lease.ts), used by the catalog only. */
export const HEALTH_BUCKET = "dsb-health";
export const HEALTH_BUCKET_USERS: readonly NatsUser[] = ["catalog"];

/** JetStream KV bucket of the query result cache (gateway/src/cache/kv-store.ts), shared by the gateway replicas. */
export const CACHE_BUCKET = "dsb-query-cache";
export const CACHE_BUCKET_USERS: readonly NatsUser[] = ["gateway"];
/** Its claims bucket (gateway/src/cache/kv-flight.ts): which replica runs an identical query. */
export const CACHE_CLAIMS_BUCKET = `${CACHE_BUCKET}-claims`;
/** On top of kvSubjects: the cache sets discard "old" once (update) and drops a source's entries by a filtered purge; a claim is purged when done. */
const cacheExtraSubjects = (bucket: string) => [`$JS.API.STREAM.UPDATE.KV_${bucket}`, `$JS.API.STREAM.PURGE.KV_${bucket}`, `$JS.API.STREAM.PURGE.KV_${CACHE_CLAIMS_BUCKET}`];
/** A replica waiting for another's run hears the value's and the claim's messages on their KV subjects. */
const cacheSubscribeSubjects = [`$KV.${CACHE_BUCKET}.>`, `$KV.${CACHE_CLAIMS_BUCKET}.>`];

/** What a KV client needs for create/get/update/delete of keys in one bucket (stream KV_<bucket>). */
export function kvSubjects(bucket: string): string[] {
  const stream = `KV_${bucket}`;
  return [
    "$JS.API.INFO",
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.STREAM.CREATE.${stream}`,
    `$JS.API.STREAM.MSG.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}.>`,
    `$KV.${bucket}.>`,
  ];
}

/** Env variable holding a user's password, referenced from nats.conf as `$NATS_<USER>_PASS`. */
export const passwordVar = (user: NatsUser) => `NATS_${user.toUpperCase()}_PASS`;

/** Reply-inbox prefix of a user; libs/bus sets the same prefix from NATS_USER (see natsConnectionOptions). */
export const inboxPrefix = (user: NatsUser) => `_INBOX_${user}`;

/**
 * Subjects of the JetStream API and of the Object Store stream that an Object Store client needs
 * for create/put/get/info/list/delete on one bucket, and nothing else: with `$JS.API.>` a user
 * could create a stream capturing another user's replies.
 */
export function bucketSubjects(bucket: string): string[] {
  const stream = `OBJ_${bucket}`;
  return [
    "$JS.API.INFO",
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.STREAM.CREATE.${stream}`,
    `$JS.API.STREAM.MSG.GET.${stream}`,
    `$JS.API.STREAM.PURGE.${stream}`,
    `$JS.API.DIRECT.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}.>`,
    `$JS.API.CONSUMER.CREATE.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.INFO.${stream}.*`,
    `$JS.API.CONSUMER.DELETE.${stream}.*`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.*`,
    `$O.${bucket}.>`,
  ];
}

export interface Permissions {
  publish: string[];
  subscribe: string[];
  /** Lets a responder publish to the reply subject of a request it received (and only that). */
  allowResponses: boolean;
}

const isService = (u: NatsUser): u is ServiceName => u in SERVICES;

/** The permissions of one user, derived from SUBJECTS, EVENT_ROUTES and the bucket users. */
export function permissionsOf(user: NatsUser): Permissions {
  const subjects = Object.entries(SUBJECTS) as [string, { callers: readonly Caller[] }][];
  const publish = subjects.filter(([, d]) => d.callers.includes(user)).map(([s]) => s);
  const subscribe: string[] = [];
  for (const [event, r] of Object.entries(EVENT_ROUTES)) {
    if (r.publisher === user) publish.push(event);
    if ((r.subscribers as readonly string[]).includes(user)) subscribe.push(event);
  }
  if (isService(user)) {
    const prefix = SERVICES[user].prefix;
    subscribe.unshift(...subjects.map(([s]) => s).filter((s) => s.startsWith(prefix)));
    // @nats-io/services discovery: $SRV.<verb>, $SRV.<verb>.<name>, $SRV.<verb>.<name>.<id>.
    subscribe.push("$SRV.*", `$SRV.*.${user}`, `$SRV.*.${user}.*`);
    // Its own ping/info/stats, for the readiness probe (deploy/healthcheck.ts) run with its credentials.
    publish.push(`$SRV.*.${user}`, `$SRV.*.${user}.*`);
    // A caller pings the services it calls when a request falls silent, to tell a dead replica
    // ("no responders") from a busy one (libs/bus/src/nats-transport.ts).
    const callees = (Object.keys(SERVICES) as ServiceName[]).filter((s) => s !== user && publish.some((p) => p.startsWith(SERVICES[s].prefix)));
    publish.push(...callees.flatMap((s) => [`$SRV.PING.${s}`, `$SRV.PING.${s}.*`]));
    // Heartbeats of in-flight requests (libs/bus/src/nats-transport.ts) go to `<caller's inbox>.hb.…`, a part of
    // each caller's inbox that carries no replies: a forged heartbeat can only delay a timeout.
    const callers = new Set(subjects.filter(([s]) => s.startsWith(prefix)).flatMap(([, d]) => d.callers));
    publish.push(...NATS_USERS.filter((c) => callers.has(c)).map((c) => `${inboxPrefix(c)}.hb.>`));
  } else {
    // Fanout subjects it serves itself (every replica hears them; no queue group, no heartbeats).
    subscribe.unshift(...subjects.filter(([s, d]) => s.startsWith(`${user}.`) && "fanout" in d).map(([s]) => s));
    // The gateway's /readyz pings every service; discovery is harmless to expose to it.
    publish.push("$SRV.>");
  }
  if (BUCKET_USERS.includes(user)) publish.push(...bucketSubjects(UPLOAD_BUCKET));
  if (HEALTH_BUCKET_USERS.includes(user)) publish.push(...kvSubjects(HEALTH_BUCKET).filter((s) => !publish.includes(s)));
  if (CACHE_BUCKET_USERS.includes(user)) {
    publish.push(...[...kvSubjects(CACHE_BUCKET), ...kvSubjects(CACHE_CLAIMS_BUCKET), ...cacheExtraSubjects(CACHE_BUCKET)].filter((s, i, all) => !publish.includes(s) && all.indexOf(s) === i));
    subscribe.push(...cacheSubscribeSubjects);
  }
  subscribe.push(`${inboxPrefix(user)}.>`);
  const serves = subjects.some(([s]) => s.startsWith(`${user}.`));
  return { publish, subscribe, allowResponses: serves };
}

const q = (s: string) => JSON.stringify(s);
const list = (items: string[], indent: string) => `[\n${items.map((s) => `${indent}  ${q(s)}`).join(",\n")}\n${indent}]`;

/** The whole nats.conf text. */
export function renderNatsConf(): string {
  const users = NATS_USERS.map((u) => {
    const p = permissionsOf(u);
    return [
      `    {`,
      `      user: ${u}`,
      `      password: $${passwordVar(u)}`,
      `      permissions: {`,
      `        publish: { allow: ${list(p.publish, "        ")} }`,
      `        subscribe: { allow: ${list(p.subscribe, "        ")} }`,
      // One reply per request (no more: nats-server then forgets the permission at once), valid longer than
      // the longest request (a query may run an hour); "true" would expire it after 2 minutes.
      ...(p.allowResponses ? [`        allow_responses: { max: 1, expires: "2h" }`] : []),
      `      }`,
      `    }`,
    ].join("\n");
  });
  return `# GENERATED by deploy/gen-nats-conf.ts from libs/contracts/src/subjects.ts — do not edit.
# Regenerate: npx tsx deploy/gen-nats-conf.ts   (test/deploy/nats-conf.test.ts checks it is current)
#
# One user per service. A user may publish only the subjects whose \`callers\` list it, so only the
# connector can ask the catalog for decrypted configs, and the gateway only the public subjects.
# Each user subscribes only to its own reply inbox (${inboxPrefix("gateway")}.> etc.), so no user
# can read replies meant for another. Passwords come from the environment: ${NATS_USERS.map(passwordVar).join(", ")}
# (nats-server refuses to start when one is missing).

port: 4222
http_port: 8222
max_payload: 1MB

jetstream {
  # nats-server appends /jetstream: files live in /data/jetstream (the volume in compose and k8s).
  store_dir: "/data"
  max_memory_store: 256MB
  max_file_store: 10GB
}

# NATS over WebSocket for gateways on edge runtimes (workerd, Deno: NATS_URL=wss://…), with the same
# users and permissions. TLS is terminated in front of it (ingress, load balancer); to serve wss
# here instead, replace no_tls with tls { cert_file: "…", key_file: "…" } (docs/deploy.md).
websocket {
  port: 8080
  no_tls: true
}

authorization {
  users: [
${users.join(",\n")}
  ]
}
`;
}

/** Where the conf is written: compose mounts the first; kustomize can only read files below deploy/k8s. */
export const CONF_PATHS = ["./nats.conf", "./k8s/nats/nats.conf"].map((p) => fileURLToPath(new URL(p, import.meta.url)));

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = renderNatsConf();
  if (process.argv.includes("--check")) {
    const stale = CONF_PATHS.filter((p) => { try { return readFileSync(p, "utf8") !== text; } catch { return true; } });
    if (stale.length) {
      console.error(`stale: ${stale.join(", ")}; run npx tsx deploy/gen-nats-conf.ts`);
      process.exit(1);
    }
    console.log("nats.conf files are current");
  } else {
    for (const p of CONF_PATHS) {
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, text);
      console.log(`wrote ${p}`);
    }
  }
}
