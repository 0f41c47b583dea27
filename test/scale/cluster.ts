import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type pg from "pg";
import { SignJWT } from "jose";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { DEV_ENCRYPTION_KEY, type Deployable } from "../support/build.ts";
import { freePort, TestNatsServer } from "../support/nats-server.ts";
import { adminQuery as adminQueryAs, databaseUrl, spawnBundle } from "../support/processes.ts";

const PG_ADMIN = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const JWT_SECRET = "scale-secret-0123456789-0123456789-abcdef";
const ENCRYPTION_KEY = DEV_ENCRYPTION_KEY;
export type { Deployable };

/** One OS process of the system (`node dist/<service>.js`), its output kept in a log file. */
export interface Replica {
  service: Deployable;
  id: string;
  proc: ChildProcess;
  logFile: string;
  exited: Promise<number | null>;
}

/** Endpoint stats of one replica, from `$SRV.STATS.<service>` (@nats-io/services). */
export interface ReplicaStats {
  replica: string;
  endpoints: Record<string, number>;
}

/**
 * The distributed system as separate processes on a private nats-server (kills there disturb no
 * other test file) and a fresh PostgreSQL catalog database.
 */
export class Cluster {
  readonly replicas: Replica[] = [];
  nc!: NatsConnection;
  gatewayUrl = "";
  /** One URL per gateway replica (gw1, gw2…), each on its own port; `gatewayUrl` is the first. */
  gatewayUrls: string[] = [];
  private readonly dir = mkdtempSync(join(tmpdir(), "dsb-scale-"));
  private catalogDb = "";

  constructor(readonly nats: TestNatsServer, private readonly env: Record<string, string> = {}) {}

  static async start(counts: Record<Deployable, number>, env: Record<string, string> = {}): Promise<Cluster> {
    const c = new Cluster(await TestNatsServer.start(), env);
    try {
      await c.boot(counts);
    } catch (e) {
      console.error(c.logs());
      await c.stop();
      throw e;
    }
    return c;
  }

  private async boot(counts: Record<Deployable, number>): Promise<void> {
    // A DATABASE_URL in env is the catalog's (a private server a test restarts); else a fresh database here.
    if (!this.env.DATABASE_URL) {
      this.catalogDb = `dsb_scale_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
      await adminQuery(`create database ${this.catalogDb}`);
    }
    this.nc = await connect({ servers: this.nats.url, name: "scale-test" });

    // The catalog migrates first so the other processes find it answering.
    for (let i = 0; i < counts.catalog; i++) this.spawn("catalog", `catalog${i + 1}`);
    for (let i = 0; i < counts.connector; i++) this.spawn("connector", `conn${i + 1}`);
    for (let i = 0; i < counts.ingestion; i++) this.spawn("ingestion", `ing${i + 1}`);
    for (let i = 0; i < counts.gateway; i++) {
      const port = await freePort();
      this.gatewayUrls.push(`http://127.0.0.1:${port}`);
      this.spawn("gateway", `gw${i + 1}`, { PORT: String(port) });
    }
    this.gatewayUrl = this.gatewayUrls[0] ?? "";
    await waitFor(async () => {
      for (const r of this.replicas) if (r.proc.exitCode !== null) throw new Error(`${r.id} exited with ${r.proc.exitCode}`);
      for (const url of this.gatewayUrls) if (!(await fetch(`${url}/readyz`).then((r) => r.ok, () => false))) return false;
      for (const svc of ["catalog", "connector", "ingestion"] as const)
        if ((await this.stats(svc)).length !== counts[svc]) return false;
      return true;
    }, 90_000, "the cluster to start");
  }

  private spawn(service: Deployable, id: string, extra: Record<string, string> = {}): Replica {
    const logFile = join(this.dir, `${id}.log`);
    const { DATABASE_URL: catalogUrl, ...env } = this.env;
    const { proc, exited } = spawnBundle(service, {
      logFile,
      env: {
        PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp",
        NATS_URL: this.nats.url, ENCRYPTION_KEY, JWT_SECRET, ALLOW_PRIVATE_HOSTS: "true", LOG_LEVEL: "warn",
        DATA_DIR: join(this.dir, id), REPLICA_ID: id, HOST: "127.0.0.1",
        DATABASE_URL: service === "catalog" ? catalogUrl ?? databaseUrl(PG_ADMIN, this.catalogDb) : "",
        ...env, ...extra,
      },
    });
    const replica = { service, id, proc, logFile, exited };
    this.replicas.push(replica);
    return replica;
  }

  replica(id: string): Replica {
    const r = this.replicas.find((x) => x.id === id);
    if (!r) throw new Error(`no replica ${id}`);
    return r;
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
    const replies = await this.nc.requestMany(`$SRV.STATS.${service}`, undefined,
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

  async token(tenant = "scale-tenant", user = "u1", role?: string): Promise<string> {
    return new SignJWT({ tenant_id: tenant, ...(role ? { role } : {}) }).setProtectedHeader({ alg: "HS256" }).setSubject(user).setExpirationTime("1h")
      .sign(new TextEncoder().encode(JWT_SECRET));
  }

  /** fetch against a gateway (`via`: its URL, default the first) as a user of the test tenant. */
  async api(path: string, init: RequestInit & { json?: unknown; via?: string; user?: string } = {}): Promise<Response> {
    const { json, via, user, ...rest } = init;
    const headers = new Headers(rest.headers);
    headers.set("authorization", `Bearer ${await this.token(undefined, user)}`);
    if (json !== undefined) headers.set("content-type", "application/json");
    return fetch((via ?? this.gatewayUrl) + path, { ...rest, headers, ...(json !== undefined ? { body: JSON.stringify(json) } : {}) });
  }

  logs(): string {
    return this.replicas.map((r) => {
      let text = "";
      try { text = readFileSync(r.logFile, "utf8"); } catch { /* none */ }
      return text.trim() ? `--- ${r.id} ---\n${text.slice(-3000)}` : "";
    }).filter(Boolean).join("\n");
  }

  async stop(): Promise<void> {
    for (const r of this.replicas) if (r.proc.exitCode === null && r.proc.signalCode === null) r.proc.kill("SIGTERM");
    await Promise.race([Promise.all(this.replicas.map((r) => r.exited)), new Promise((r) => setTimeout(r, 10_000))]);
    for (const r of this.replicas) if (r.proc.exitCode === null && r.proc.signalCode === null) r.proc.kill("SIGKILL");
    await this.nc?.close().catch(() => undefined);
    await this.nats.dispose();
    if (this.catalogDb) await adminQuery(`drop database if exists ${this.catalogDb} with (force)`).catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export const adminQuery = (sql: string, params: unknown[] = []): Promise<pg.QueryResult> => adminQueryAs(PG_ADMIN, sql, params);

/** Polls `check` until it returns true; throws naming `what` after `timeoutMs`. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`timed out waiting for ${what}`);
}
