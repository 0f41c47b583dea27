import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect, createServer as createTlsServer } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { skipped } from "@dsb/runtime/testing";
import { parseDatabaseConfig, SshSchema, type SshConfig } from "@dsb/contracts";
import { SSH_TEST_PASSWORD, SSH_TEST_USER, sshdUnavailable, TestSshd } from "../../../../test/support/sshd.ts";
import { tediousOptions, type MssqlSettings } from "../drivers/mssql/config.ts";
import { ForwardedSocket } from "./forwarded-socket.ts";
import { SshTunnel } from "./tunnel.ts";

const noSshd = sshdUnavailable();
if (noSshd) skipped("ssh tunnel unit tests against sshd", noSshd);

const cfg = (c: Partial<SshConfig>): SshConfig => SshSchema.parse({ host: "127.0.0.1", username: SSH_TEST_USER, password: SSH_TEST_PASSWORD, ...c });

describe("ssh config", () => {
  it("needs a password or a key, refuses unknown fields and fingerprints that are not OpenSSH's form", () => {
    expect(SshSchema.safeParse({ host: "b", username: "u" }).success).toBe(false);
    expect(SshSchema.safeParse({ host: "b", username: "u", password: "p", passwrd: "p" }).success).toBe(false);
    expect(SshSchema.safeParse({ host: "b", username: "u", password: "p", host_key_sha256: "ab:cd" }).success).toBe(false);
    expect(SshSchema.parse({ host: "b", username: "u", private_key: "k" })).toMatchObject({ port: 22 });
  });
  it("is refused, not dropped, on a type without tunnels", () => {
    const ssh = { host: "b", username: "u", password: "p" };
    expect(() => parseDatabaseConfig({ type: "mongodb", host: "m", database: "d", ssh })).toThrow(/ssh is not supported for mongodb/);
    expect(parseDatabaseConfig({ type: "sqlserver", host: "m", ssh })).toMatchObject({ type: "mssql", ssh: { port: 22 } });
  });
});

describe.runIf(!noSshd)("SshTunnel against a private sshd", () => {
  let sshd: TestSshd;
  let silent: Server;
  const held: Socket[] = [];
  beforeAll(async () => {
    sshd = await TestSshd.start();
    // Accepts TCP and never says a word: an SSH server that hangs.
    silent = createServer((s) => held.push(s));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
  });
  afterAll(async () => {
    for (const s of held) s.destroy();
    await new Promise((r) => silent?.close(r));
    await sshd?.stop();
  });
  const at = (port: number) => ({ address: "127.0.0.1", hostname: "127.0.0.1", port });

  it("records the host key as OpenSSH prints it (ssh-keygen -l), and holds the next login to it", async () => {
    const t = new SshTunnel(cfg({ port: sshd.port }), at(sshd.port));
    try {
      await t.ready();
      expect(t.hostKeySha256).toBe(sshd.hostKeySha256);
    } finally {
      t.close();
    }
  });

  it("a server that accepts TCP and never answers: 'did not answer', after the ready timeout", async () => {
    const port = (silent.address() as { port: number }).port;
    const t = new SshTunnel(cfg({ port }), at(port), { readyTimeoutMs: 500 });
    await expect(t.ready()).rejects.toThrow(/^SSH server at 127\.0\.0\.1:\d+ did not answer in time/);
    t.close();
  });

  it("a private key that is not one says so without echoing it", async () => {
    const t = new SshTunnel(cfg({ port: sshd.port, password: undefined, private_key: "not-a-key-canary" }), at(sshd.port));
    const err = await t.ready().then(() => null, (e: Error) => e);
    expect(err?.message).toMatch(/^SSH private_key could not be read/);
    expect(err?.message).not.toContain("not-a-key-canary");
    t.close();
  });

  it("TLS runs over a forwarded socket (what pg, mysql2 and ClickHouse https do behind SSH)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dsb-tls-"));
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=db.internal",
      "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")], { stdio: "ignore" });
    const cert = readFileSync(join(dir, "cert.pem"), "utf8");
    const server = createTlsServer({ key: readFileSync(join(dir, "key.pem")), cert }, (s) => s.on("data", (d: Buffer) => s.end(`echo:${d}`)));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    const t = new SshTunnel(cfg({ port: sshd.port }), at(sshd.port));
    try {
      const socket = new ForwardedSocket(() => t.forward("127.0.0.1", port));
      const tls = tlsConnect({ socket, ca: cert, servername: "db.internal" });
      tls.write("hello");
      const got = await new Promise<string>((resolve, reject) => {
        let out = "";
        tls.on("data", (d: Buffer) => { out += d; });
        tls.on("end", () => resolve(out));
        tls.on("error", reject);
      });
      expect(got).toBe("echo:hello");
      expect(tls.authorized).toBe(true);
    } finally {
      t.close();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a closed tunnel does not reopen", async () => {
    const t = new SshTunnel(cfg({ port: sshd.port }), at(sshd.port));
    await t.ready();
    t.close();
    await expect(t.forward("127.0.0.1", 5432)).rejects.toThrow(/closed/);
  });
});

describe("SQL Server behind SSH", () => {
  const settings: MssqlSettings = { host: "db", port: 1433, database: "d", user: "u", password: "p", instanceName: undefined, encrypt: true, trustServerCertificate: false, ca: undefined };
  it("hands tedious the tunnel as its connector, and refuses instance_name (SQL Browser is UDP)", () => {
    const forward = () => Promise.reject(new Error("unused"));
    const o = tediousOptions(settings, { address: "db", hostname: "db", port: 1433, forward });
    expect(typeof o.options?.connector).toBe("function");
    expect(tediousOptions(settings, { address: "10.0.0.1", hostname: "db", port: 1433 }).options?.connector).toBeUndefined();
    expect(() => tediousOptions({ ...settings, instanceName: "SQLEXPRESS" }, { address: "db", hostname: "db", port: 1433, forward })).toThrow(/instance_name cannot be used with ssh/);
  });
});
