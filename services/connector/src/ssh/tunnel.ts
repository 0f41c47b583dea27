import { createHash } from "node:crypto";
import type { Duplex } from "node:stream";
import { Client, type ClientChannel, type ConnectConfig } from "ssh2";
import type { SshConfig } from "@dsb/contracts";
import { DriverError, type DialTarget } from "../drivers/types.ts";

/** SSH keepalive: a dead or silent server is noticed within about 3 × this. */
export const SSH_KEEPALIVE_MS = 10_000;
/** How long the SSH handshake and login may take. */
export const SSH_READY_TIMEOUT_MS = 10_000;

/** OpenSSH's fingerprint of a host key blob: `SHA256:` + unpadded base64 of its SHA-256. */
export function sshFingerprint(keyBlob: Buffer): string {
  return "SHA256:" + createHash("sha256").update(keyBlob).digest("base64").replace(/=+$/, "");
}

const hostKeyChanged = (expected: string, got: string) =>
  new DriverError("connection",
    `SSH host key changed: expected ${expected}, got ${got} — if the server's key was rotated, update ssh.host_key_sha256; otherwise something is intercepting the connection`);

/**
 * One SSH connection to a bastion, shared by every connection of a source's pool:
 * each database connection is a forwarded channel (`forward`). The host key is
 * checked on every (re)connect against `ssh.host_key_sha256`, or, without one,
 * against the first key this tunnel saw (recorded for the caller to store).
 * A dropped connection (server restarted, network cut, keepalive unanswered) is
 * reopened by the next `forward`, so the pool recovers without a restart.
 */
export class SshTunnel {
  private client: Client | null = null;
  private opening: Promise<Client> | null = null;
  private pinned: string | null;
  private closed = false;
  private readonly where: string;

  /** `bastion` is the SSH server's address as the address policy checked it. */
  constructor(private readonly ssh: SshConfig, private readonly bastion: DialTarget, private readonly opts: { readyTimeoutMs?: number } = {}) {
    this.pinned = ssh.host_key_sha256 ?? null;
    this.where = `${ssh.host}:${ssh.port}`;
  }

  /** The host key fingerprint the server showed (null before the first login). */
  get hostKeySha256(): string | null {
    return this.pinned;
  }

  /** Logs in (once); the error names the SSH step that failed. */
  async ready(): Promise<void> {
    await this.connection();
  }

  /** A channel to `host:port` as the SSH server resolves and reaches it. */
  async forward(host: string, port: number): Promise<Duplex> {
    const client = await this.connection();
    return new Promise<Duplex>((resolve, reject) => {
      try {
        client.forwardOut("127.0.0.1", 0, host, port, (err: Error | undefined, channel: ClientChannel) => {
          if (err) reject(this.forwardError(err, host, port));
          else resolve(channel);
        });
      } catch (e) {
        // ssh2 throws when the connection went away between the check and the call.
        if (this.client === client) this.client = null;
        reject(new DriverError("connection", `The SSH connection to ${this.where} was lost; try again`, { cause: e }));
      }
    });
  }

  close(): void {
    this.closed = true;
    this.client?.end();
    this.client = null;
  }

  private connection(): Promise<Client> {
    if (this.closed) return Promise.reject(new DriverError("connection", "This SSH tunnel is closed"));
    if (this.client) return Promise.resolve(this.client);
    this.opening ??= this.open().finally(() => { this.opening = null; });
    return this.opening;
  }

  private open(): Promise<Client> {
    const c = new Client();
    let keyProblem: DriverError | null = null;
    let ready = false;
    return new Promise<Client>((resolve, reject) => {
      c.on("ready", () => {
        ready = true;
        if (this.closed) {
          c.end();
          reject(new DriverError("connection", "This SSH tunnel is closed"));
          return;
        }
        this.client = c;
        resolve(c);
      });
      c.on("error", (e: Error & { level?: string; code?: string }) => {
        if (this.client === c) this.client = null;
        if (!ready) reject(keyProblem ?? this.loginError(e));
      });
      c.on("close", () => {
        if (this.client === c) this.client = null;
        if (!ready) reject(keyProblem ?? new DriverError("connection", `The SSH server at ${this.where} closed the connection during login; check ssh.host and ssh.port`));
      });
      const config: ConnectConfig = {
        // The checked address, so the name is not looked up again (DNS rebinding).
        host: this.bastion.address,
        port: this.bastion.port,
        username: this.ssh.username,
        ...(this.ssh.password ? { password: this.ssh.password } : {}),
        ...(this.ssh.private_key ? { privateKey: this.ssh.private_key } : {}),
        ...(this.ssh.passphrase ? { passphrase: this.ssh.passphrase } : {}),
        // Without a verifier ssh2 accepts any host key: always check it.
        hostVerifier: (key: Buffer) => {
          const got = sshFingerprint(key);
          if (this.pinned === null) {
            this.pinned = got;
            return true;
          }
          if (got === this.pinned) return true;
          keyProblem = hostKeyChanged(this.pinned, got);
          return false;
        },
        readyTimeout: this.opts.readyTimeoutMs ?? SSH_READY_TIMEOUT_MS,
        keepaliveInterval: SSH_KEEPALIVE_MS,
        keepaliveCountMax: 3,
        // Never ask an SSH agent or keyboard prompt of the connector's own machine.
        agent: undefined,
        tryKeyboard: false,
      };
      try {
        c.connect(config);
        // Database sessions send small messages and wait for answers: Nagle would hold each one
        // back for the server's delayed ACK (~40 ms per round trip measured through sshd).
        c.setNoDelay(true);
      } catch (e) {
        // Thrown synchronously for a private key ssh2 cannot parse (or decrypt with the passphrase).
        reject(new DriverError("connection",
          `SSH private_key could not be read: ${(e as Error).message.replace(/^Cannot parse privateKey: /, "")}; ` +
          "give an OpenSSH or PEM private key, and its passphrase if it is encrypted", { cause: e }));
      }
    });
  }

  private loginError(e: Error & { level?: string; code?: string }): DriverError {
    const m = e.message ?? "";
    if (e.level === "client-authentication")
      return new DriverError("connection", `SSH login to ${this.where} as ${this.ssh.username} failed: wrong password or key; check ssh.username and ssh.password or ssh.private_key`, { cause: e });
    if (e.level === "client-timeout" || /timed out/i.test(m))
      return new DriverError("connection", `SSH server at ${this.where} did not answer in time; check ssh.host, ssh.port and any firewall between us`, { cause: e });
    if (e.code === "ECONNREFUSED")
      return new DriverError("connection", `SSH server at ${this.where} refused the connection; check ssh.host and ssh.port`, { cause: e });
    if (e.code === "EHOSTUNREACH" || e.code === "ENETUNREACH")
      return new DriverError("connection", `SSH server at ${this.where} is unreachable from the connector; check the network path`, { cause: e });
    if (/encrypted private OpenSSH key|passphrase|bad decrypt/i.test(m))
      return new DriverError("connection", `SSH private_key could not be decrypted; check ssh.passphrase`, { cause: e });
    return new DriverError("connection", `SSH connection to ${this.where} failed: ${m || e.code || "unknown error"}`, { cause: e });
  }

  private forwardError(e: Error & { reason?: number }, host: string, port: number): DriverError {
    const why = (e.message ?? "").replace(/^\(SSH\) Channel open failure:\s*/i, "").trim() || "channel open failure";
    const hint = e.reason === 1
      ? "the SSH server does not allow TCP forwarding (AllowTcpForwarding)"
      : "check the database host and port as the SSH server sees them";
    return new DriverError("connection", `Through SSH (${this.where}): the database at ${host}:${port} could not be reached (${why}); ${hint}`, { cause: e });
  }
}
