import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./nats-server.ts";

export const SSHD_BIN = process.env.SSHD_BIN ?? "/usr/sbin/sshd";
/** A system user for the tests' SSH logins (created once, password known). */
export const SSH_TEST_USER = "dsbssh";
export const SSH_TEST_PASSWORD = "dsb-ssh-Pw-41c9e";

/** Why the tests cannot run a private sshd here, or null when they can. */
export function sshdUnavailable(): string | null {
  if (!existsSync(SSHD_BIN)) return `no ${SSHD_BIN} (apt-get install openssh-server; .ci/run does)`;
  if (process.getuid?.() !== 0) return "not root: cannot create the test user or run sshd's privilege separation";
  return null;
}

/** The test user with its known password; idempotent. */
function ensureTestUser(): void {
  try {
    execFileSync("getent", ["passwd", SSH_TEST_USER], { stdio: "ignore" });
  } catch {
    execFileSync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SSH_TEST_USER], { stdio: "ignore" });
  }
  execFileSync("chpasswd", [], { input: `${SSH_TEST_USER}:${SSH_TEST_PASSWORD}\n` });
}

const keygen = (file: string, passphrase = "") =>
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", passphrase, "-C", "dsb-test", "-f", file], { stdio: "ignore" });

/** OpenSSH's `SHA256:…` fingerprint of a public key file, as ssh-keygen prints it. */
export function fingerprintOf(pubFile: string): string {
  return execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", pubFile]).toString().split(" ")[1]!;
}

async function portOpen(port: number): Promise<boolean> {
  return new Promise((r) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => { s.destroy(); r(true); });
    s.once("error", () => r(false));
  });
}

/** Every process descended from `pid` (sshd forks one per connection, in its own session). */
function descendants(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(d)]);
    } catch {
      // Gone meanwhile.
    }
  }
  const out: number[] = [];
  const walk = (p: number) => { for (const c of parents.get(p) ?? []) { out.push(c); walk(c); } };
  walk(pid);
  return out;
}

/**
 * A private OpenSSH server on 127.0.0.1 (never the machine's sshd): its own host
 * key, config and pid file in a temp directory; password and key logins for
 * SSH_TEST_USER; TCP forwarding on. `kill()` ends it and every session it forked
 * (an SSH server going away); `start()` brings it back on the same port with the
 * same host key.
 */
export class TestSshd {
  readonly dir = mkdtempSync(join(tmpdir(), "dsb-sshd-"));
  readonly hostKeyFile = join(this.dir, "host_ed25519");
  /** A user key without passphrase, and one encrypted with `encryptedKeyPassphrase`. */
  readonly userKeyFile = join(this.dir, "user_ed25519");
  readonly encryptedKeyFile = join(this.dir, "user_enc_ed25519");
  readonly encryptedKeyPassphrase = "key-pass-phrase-9";
  private proc: ChildProcess | null = null;
  log = "";

  private constructor(readonly port: number) {}

  static async start(): Promise<TestSshd> {
    ensureTestUser();
    mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
    const s = new TestSshd(await freePort());
    keygen(s.hostKeyFile);
    keygen(s.userKeyFile);
    keygen(s.encryptedKeyFile, s.encryptedKeyPassphrase);
    const authorized = join(s.dir, "authorized_keys");
    writeFileSync(authorized, readFileSync(`${s.userKeyFile}.pub`, "utf8") + readFileSync(`${s.encryptedKeyFile}.pub`, "utf8"));
    chmodSync(s.dir, 0o755);
    chmodSync(authorized, 0o644);
    writeFileSync(join(s.dir, "sshd_config"), [
      `ListenAddress 127.0.0.1`,
      `HostKey ${s.hostKeyFile}`,
      `PidFile ${join(s.dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${authorized}`,
      "StrictModes no",
      "UsePAM no",
      "PasswordAuthentication yes",
      "PubkeyAuthentication yes",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin no",
      `AllowUsers ${SSH_TEST_USER}`,
      "AllowTcpForwarding yes",
      "X11Forwarding no",
      "PrintMotd no",
      "LogLevel VERBOSE",
      // Not the machine's: no systemd notification, no banner, no ~/.ssh of real users.
      "",
    ].join("\n"));
    await s.start();
    return s;
  }

  get hostKeySha256(): string {
    return fingerprintOf(`${this.hostKeyFile}.pub`);
  }

  privateKey(encrypted = false): string {
    return readFileSync(encrypted ? this.encryptedKeyFile : this.userKeyFile, "utf8");
  }

  async start(): Promise<void> {
    if (this.proc) return;
    const p = spawn(SSHD_BIN, ["-D", "-e", "-f", join(this.dir, "sshd_config"), "-p", String(this.port)], { stdio: ["ignore", "ignore", "pipe"] });
    p.stderr!.on("data", (d: Buffer) => { this.log = (this.log + d.toString()).slice(-20_000); });
    this.proc = p;
    for (let i = 0; i < 200; i++) {
      if (p.exitCode !== null) throw new Error(`sshd exited with ${p.exitCode}: ${this.log}`);
      if (await portOpen(this.port)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`sshd did not listen on ${this.port}: ${this.log}`);
  }

  /** Kills the server and every session it forked; the port closes. */
  async kill(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null) return;
    const kids = descendants(p.pid!);
    const exited = new Promise((r) => p.once("exit", r));
    p.kill("SIGKILL");
    for (const k of kids) {
      try { process.kill(k, "SIGKILL"); } catch { /* already gone */ }
    }
    await exited;
    for (let i = 0; i < 100 && (await portOpen(this.port)); i++) await new Promise((r) => setTimeout(r, 50));
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
