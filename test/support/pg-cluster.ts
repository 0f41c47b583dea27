import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { chownSync, mkdtempSync, rmSync } from "node:fs";
import { readdirSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { freePort } from "./nats-server.ts";

const execFileAsync = promisify(execFile);

/** The newest PostgreSQL server binaries installed (Debian: /usr/lib/postgresql/<major>/bin). */
function pgBin(): string {
  const majors = readdirSync("/usr/lib/postgresql").filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(b) - Number(a));
  if (!majors.length) throw new Error("no PostgreSQL server under /usr/lib/postgresql");
  return `/usr/lib/postgresql/${majors[0]}/bin`;
}

/**
 * A PostgreSQL cluster of the test's own (initdb + pg_ctl on a free port, trust auth
 * on 127.0.0.1, data in a temp dir), which the test may stop and start: the machine's
 * shared PostgreSQL is never touched. As root, the cluster runs as the `postgres`
 * OS user (initdb refuses root).
 */
export class PrivatePostgres {
  private constructor(readonly port: number, private readonly dir: string, private readonly bin: string) {}

  /**
   * `passwords`: TCP logins need a password (scram-sha-256); the socket stays trust,
   * for `exec`. Otherwise trust everywhere.
   */
  static async start(opts: { passwords?: boolean } = {}): Promise<PrivatePostgres> {
    const dir = mkdtempSync(join(tmpdir(), "dsb-pg-"));
    const pg = new PrivatePostgres(await freePort(), dir, pgBin());
    if (userInfo().uid === 0) {
      const ids = execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim();
      const gid = execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim();
      chownSync(dir, Number(ids), Number(gid));
    }
    await pg.run("initdb", ["-D", join(dir, "data"), "-U", "postgres", "--auth-local=trust", `--auth-host=${opts.passwords ? "scram-sha-256" : "trust"}`, "--no-sync", "-E", "UTF8"]);
    await pg.startServer();
    return pg;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  /** Runs a server tool without blocking the event loop: a test's load keeps running meanwhile. */
  private async run(tool: string, args: string[]): Promise<void> {
    const cmd = join(this.bin, tool);
    const [file, argv] = userInfo().uid === 0 ? ["runuser", ["-u", "postgres", "--", cmd, ...args]] : [cmd, args];
    try {
      await execFileAsync(file, argv, { encoding: "utf8" });
    } catch (e) {
      const { stderr, stdout } = e as { stderr?: string; stdout?: string };
      throw new Error(`${tool} ${args.join(" ")} failed: ${stderr || stdout || String(e)}`);
    }
  }

  /** Server options: fsync off is fast and still safe against a server crash (the OS keeps the writes). */
  private get serverOptions(): string {
    return `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
  }

  /** Runs SQL as the superuser over the unix socket (works whatever TCP logins need). */
  async exec(sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
    const c = new pg.Client({ host: this.dir, port: this.port, user: "postgres", database: "postgres" });
    await c.connect();
    try { return await c.query(sql, params); } finally { await c.end(); }
  }

  /** Starts (again) on the same port and data. */
  async startServer(): Promise<void> {
    await this.run("pg_ctl", ["-D", join(this.dir, "data"), "-l", join(this.dir, "log"), "-w", "-t", "30", "start", "-o", this.serverOptions]);
  }

  /**
   * Stops; by default at once (mode immediate: sessions are cut, as when a database host goes
   * away); `fast` ends each session with 57P01 first.
   */
  async stopServer(mode: "fast" | "immediate" = "immediate"): Promise<void> {
    await this.run("pg_ctl", ["-D", join(this.dir, "data"), "-w", "-t", "30", "stop", "-m", mode]);
  }

  /** `pg_ctl restart -m <mode>`, same port and data. */
  async restart(mode: "fast" | "immediate"): Promise<void> {
    await this.run("pg_ctl", ["-D", join(this.dir, "data"), "-l", join(this.dir, "log"), "-w", "-t", "30", "restart", "-m", mode, "-o", this.serverOptions]);
  }

  async dispose(): Promise<void> {
    try { await this.stopServer(); } catch { /* already stopped */ }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
