/**
 * The distributed system as OS processes (`node dist/<service>.js`, bundled first), one harness for
 * the multi-process tests (test/scale: replicas on a private nats-server) and the benchmarks
 * (test/bench: one of each on the machine's NATS under a namespace of its own).
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type pg from "pg";
import { SignJWT } from "jose";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { uploadBucket } from "@dsb/storage";
import { DEV_ENCRYPTION_KEY, type Deployable } from "./build.ts";
import { freePort, TestNatsServer } from "./nats-server.ts";
import { adminQuery as adminQueryAs, databaseUrl, spawnBundle, stopChild } from "./processes.ts";

export type { Deployable };
export const JWT_SECRET = "cluster-secret-0123456789-0123456789-abcdef";
export const ENCRYPTION_KEY = DEV_ENCRYPTION_KEY;
const DEFAULT_ADMIN_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
/** Replica ids by service: catalog1, conn1, ing1, gw1… (the tests name them). */
const ID_PREFIX: Record<Deployable, string> = { catalog: "catalog", connector: "conn", ingestion: "ing", gateway: "gw" };
/** The catalog first: it migrates its database before anyone asks it something. */
const START_ORDER: readonly Deployable[] = ["catalog", "connector", "ingestion", "gateway"];
const READY_TIMEOUT_MS = 90_000;

export const uniqueName = (prefix: string) => `${prefix}_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

export interface ClusterOptions {
  /** Replicas per service; one of each when left out. */
  counts?: Partial<Record<Deployable, number>>;
  /** Variables of every process, over the harness's; a DATABASE_URL here is the catalog's (a private server a test restarts). */
  env?: Record<string, string>;
  /** A NATS server shared with others (give a `namespace` then); by default a private nats-server, so kills there disturb no other test file. */
  natsUrl?: string;
  /** BUS_NAMESPACE of every process; its upload bucket is deleted at stop. */
  namespace?: string;
  /** Pass this process's variables on under the harness's (the bench's settings reach the services); otherwise only PATH and HOME. */
  inheritEnv?: boolean;
  nodeArgs?: string[];
  /** PostgreSQL admin URL of the server that gets the fresh catalog database. */
  adminUrl?: string;
  /** Keep the log directory at stop (its path is printed). */
  keepLogs?: boolean;
  /** Who `token()` and `api()` speak for by default. */
  identity?: { tenant?: string; user?: string; role?: string };
}

/** One OS process of the system, its output kept in a log file. */
export interface Replica {
  service: Deployable;
  id: string;
  proc: ChildProcess;
  logFile: string;
  exited: Promise<number | null>;
  /** Variables of this replica only (a gateway's PORT), kept for a restart. */
  extra: Record<string, string>;
}

/** Endpoint stats of one replica, from `$SRV.STATS.<service>` (@nats-io/services). */
export interface ReplicaStats {
  replica: string;
  endpoints: Record<string, number>;
}

const running = (p: ChildProcess) => p.exitCode === null && p.signalCode === null;

export class Cluster {
  readonly replicas: Replica[] = [];
  nc!: NatsConnection;
  /** The first gateway's URL. */
  url = "";
  /** One URL per gateway replica (gw1, gw2…), each on its own port. */
  gatewayUrls: string[] = [];
  readonly dir = mkdtempSync(join(tmpdir(), "dsb-cluster-"));
  /** BUS_NAMESPACE of every process; empty: none. */
  readonly namespace: string;
  private catalogDb = "";
  private counts: Record<Deployable, number> = { catalog: 1, connector: 1, ingestion: 1, gateway: 1 };
  private readonly adminUrl: string;

  private constructor(readonly natsUrl: string, private readonly privateNats: TestNatsServer | undefined, private readonly opts: ClusterOptions) {
    this.namespace = opts.namespace ?? "";
    this.adminUrl = opts.adminUrl ?? DEFAULT_ADMIN_URL;
  }

  static async start(opts: ClusterOptions = {}): Promise<Cluster> {
    const own = opts.natsUrl ? undefined : await TestNatsServer.start();
    const c = new Cluster(opts.natsUrl ?? own!.url, own, opts);
    try {
      await c.boot();
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  private async boot(): Promise<void> {
    Object.assign(this.counts, this.opts.counts);
    if (!this.opts.env?.DATABASE_URL) {
      this.catalogDb = uniqueName("dsb_cluster");
      await this.adminQuery(`create database ${this.catalogDb}`);
    }
    this.nc = await connect({ servers: this.natsUrl, name: "cluster-harness" });
    for (const service of START_ORDER) {
      for (let i = 1; i <= this.counts[service]; i++) {
        const extra: Record<string, string> = {};
        if (service === "gateway") {
          extra.PORT = String(await freePort());
          this.gatewayUrls.push(`http://127.0.0.1:${extra.PORT}`);
        }
        this.spawn(service, `${ID_PREFIX[service]}${i}`, extra);
      }
    }
    this.url = this.gatewayUrls[0] ?? "";
    await this.waitReady();
  }

  /** Every process up, every gateway ready, and each bus service answering `$SRV` with all its replicas. */
  private async waitReady(): Promise<void> {
    await waitFor(async () => {
      const gone = this.dead();
      if (gone.length) throw new Error(`${gone.join(", ")} exited during start-up`);
      for (const url of this.gatewayUrls) {
        const ok = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) }).then(async (r) => (await r.arrayBuffer(), r.ok), () => false);
        if (!ok) return false;
      }
      for (const svc of ["catalog", "connector", "ingestion"] as const)
        if ((await this.stats(svc, this.counts[svc])).length !== this.counts[svc]) return false;
      return true;
    }, READY_TIMEOUT_MS, "the cluster to start").catch((e: Error) => {
      throw new Error(`${e.message}\n${this.logs()}`);
    });
  }

  private spawn(service: Deployable, id: string, extra: Record<string, string>): Replica {
    const logFile = join(this.dir, `${id}.log`);
    const { DATABASE_URL: catalogUrl, ...env } = this.opts.env ?? {};
    const base = this.opts.inheritEnv ? process.env as Record<string, string> : { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp" };
    const { proc, exited } = spawnBundle(service, {
      logFile, nodeArgs: this.opts.nodeArgs,
      env: {
        ...base,
        NATS_URL: this.natsUrl, ...(this.namespace ? { BUS_NAMESPACE: this.namespace } : {}),
        ENCRYPTION_KEY, JWT_SECRET, ALLOW_PRIVATE_HOSTS: "true", LOG_LEVEL: "warn",
        DATA_DIR: join(this.dir, id), REPLICA_ID: id, HOST: "127.0.0.1",
        DATABASE_URL: service === "catalog" ? catalogUrl ?? databaseUrl(this.adminUrl, this.catalogDb) : "",
        ...env, ...extra,
      },
    });
    const replica = { service, id, proc, logFile, exited, extra };
    const at = this.replicas.findIndex((r) => r.id === id);
    if (at >= 0) this.replicas[at] = replica;
    else this.replicas.push(replica);
    return replica;
  }

  replica(id: string): Replica {
    const r = this.replicas.find((x) => x.id === id);
    if (!r) throw new Error(`no replica ${id}`);
    return r;
  }

  /** Process id of each service's first replica (current: a restarted replica has a new one). */
  get pids(): Record<Deployable, number> {
    return Object.fromEntries(START_ORDER.map((s) => [s, this.replicas.find((r) => r.service === s)?.proc.pid ?? 0])) as Record<Deployable, number>;
  }

  /** Replicas whose process has exited. */
  dead(): string[] {
    return this.replicas.filter((r) => !running(r.proc)).map((r) => r.id);
  }

  /** Starts again every replica that exited (as a supervisor would) and waits until ready; returns their ids. */
  async restartDead(): Promise<string[]> {
    const gone = this.replicas.filter((r) => !running(r.proc));
    for (const r of gone) this.spawn(r.service, r.id, r.extra);
    if (gone.length) await this.waitReady();
    return gone.map((r) => r.id);
  }

  /** kill -9, and wait until the process is gone. */
  async kill(id: string): Promise<void> {
    const r = this.replica(id);
    r.proc.kill("SIGKILL");
    await r.exited;
  }

  /** `$SRV.STATS.<service>`: one answer per live replica, num_requests per endpoint (sooner when `expect` replicas answer). */
  async stats(service: "catalog" | "connector" | "ingestion", expect?: number): Promise<ReplicaStats[]> {
    const out: ReplicaStats[] = [];
    const name = this.namespace ? `${this.namespace}-${service}` : service;
    const replies = await this.nc.requestMany(`$SRV.STATS.${name}`, undefined,
      expect ? { maxWait: 1000, strategy: "count", maxMessages: expect } : { maxWait: 500, strategy: "timer" });
    for await (const m of replies) {
      if (m.data.length === 0) continue;
      const s = m.json<{ metadata?: { replica?: string }; endpoints?: { name: string; num_requests: number }[] }>();
      out.push({ replica: s.metadata?.replica ?? "?", endpoints: Object.fromEntries((s.endpoints ?? []).map((e) => [e.name, e.num_requests])) });
    }
    return out.sort((a, b) => a.replica.localeCompare(b.replica));
  }

  /** TCP ports a process has open towards PostgreSQL (pg_stat_activity.client_port), from /proc. */
  pgClientPorts(id: string): Set<number> {
    const pid = this.replica(id).proc.pid!;
    const inodes = new Set<string>();
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]!);
      } catch { /* closed meanwhile */ }
    }
    const ports = new Set<number>();
    for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
      let text = "";
      try { text = readFileSync(table, "utf8"); } catch { continue; }
      for (const line of text.split("\n").slice(1)) {
        const f = line.trim().split(/\s+/);
        if (f.length < 10 || !inodes.has(f[9]!)) continue;
        const remotePort = parseInt(f[2]!.split(":")[1]!, 16);
        if (remotePort === 5432) ports.add(parseInt(f[1]!.split(":")[1]!, 16));
      }
    }
    return ports;
  }

  /** A token of the cluster's identity, or of the tenant, user and role given. */
  async token(who: { tenant?: string; user?: string; role?: string } = {}): Promise<string> {
    const { tenant = "scale-tenant", user = "u1", role } = { ...this.opts.identity, ...who };
    return new SignJWT({ tenant_id: tenant, ...(role ? { role } : {}) }).setProtectedHeader({ alg: "HS256" }).setSubject(user).setExpirationTime("6h")
      .sign(new TextEncoder().encode(JWT_SECRET));
  }

  /** fetch against a gateway (`via`: its URL, default the first) as a user of the cluster's tenant. */
  async api(path: string, init: RequestInit & { json?: unknown; via?: string; user?: string } = {}): Promise<Response> {
    const { json, via, user, ...rest } = init;
    const headers = new Headers(rest.headers);
    headers.set("authorization", `Bearer ${await this.token(user ? { user } : {})}`);
    if (json !== undefined) headers.set("content-type", "application/json");
    return fetch((via ?? this.url) + path, { ...rest, headers, ...(json !== undefined ? { body: JSON.stringify(json) } : {}) });
  }

  /** The last lines of each replica's log, for a failure message. */
  logs(lines = 30): string {
    return this.replicas.map((r) => {
      let text = "";
      try { text = readFileSync(r.logFile, "utf8"); } catch { /* not started */ }
      return text.trim() ? `--- ${r.id} ---\n${text.trimEnd().split("\n").slice(-lines).join("\n")}` : "";
    }).filter(Boolean).join("\n");
  }

  adminQuery(sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
    return adminQueryAs(this.adminUrl, sql, params);
  }

  async stop(): Promise<void> {
    await Promise.all(this.replicas.map((r) => stopChild(r.proc, 10_000)));
    // On a shared NATS the run's upload bucket would outlive it (deleting a source only soft-deletes its files).
    if (this.namespace && !this.privateNats && this.nc) {
      await (await jetstreamManager(this.nc)).streams.delete(`OBJ_${uploadBucket(this.namespace)}`).catch(() => undefined);
    }
    await this.nc?.close().catch(() => undefined);
    await this.privateNats?.dispose();
    if (this.catalogDb) await this.adminQuery(`drop database if exists ${this.catalogDb} with (force)`).catch(() => undefined);
    if (this.opts.keepLogs) console.log(`service logs kept in ${this.dir}`);
    else rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Polls `check` until it returns true; throws naming `what` after `timeoutMs`. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`timed out waiting for ${what}`);
}
