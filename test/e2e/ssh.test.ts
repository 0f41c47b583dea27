import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { skipped } from "@dsb/runtime/testing";
import { REDACTED } from "@dsb/contracts";
import { startTestSystem, type RunningSystem } from "../support/system.ts";
import { clickhouseExec, clickhouseUp, createMysqlSource, createPgSource } from "../support/peers.ts";
import { SSH_TEST_PASSWORD, SSH_TEST_USER, sshdUnavailable, TestSshd } from "../support/sshd.ts";
import { freePort } from "../support/nats-server.ts";

const MODES = ["embedded", "distributed"] as const;
const canDistribute = !!process.env.TEST_NATS_URL;
const noSshd = sshdUnavailable();
if (noSshd) skipped("ssh e2e", noSshd);
if (!canDistribute) skipped("ssh e2e (distributed)", "set TEST_NATS_URL (and TEST_DATABASE_URL) for the distributed mode");
const haveClickhouse = await clickhouseUp();
if (!haveClickhouse) skipped("ssh e2e: ClickHouse through the tunnel", "no server on 127.0.0.1:8123");

const WRONG = "Wrong-Ssh-Pass-Canary-5521";
const OTHER_KEY = `SHA256:${"A".repeat(43)}`;

let sshd: TestSshd;
let pgSrc: Awaited<ReturnType<typeof createPgSource>>;
let my: Awaited<ReturnType<typeof createMysqlSource>>;
const chDb = `dsb_ssh_${Date.now().toString(36)}`;

beforeAll(async () => {
  if (noSshd) return;
  sshd = await TestSshd.start();
  pgSrc = await createPgSource(["create table t (id int primary key, label text)", "insert into t select g, 'row ' || g from generate_series(1, 20000) g"]);
  my = await createMysqlSource(["create table items (id int primary key, title varchar(20))", "insert into items values (1, 'pen'), (2, 'ink')"]);
  if (haveClickhouse) {
    await clickhouseExec(`create database ${chDb}`);
    await clickhouseExec(`create table ${chDb}.hits (id UInt64, url String) engine = MergeTree order by id`);
    await clickhouseExec(`insert into ${chDb}.hits values (1,'/a'),(2,'/b'),(3,'/a')`);
  }
});
afterAll(async () => {
  await sshd?.stop();
  await pgSrc?.drop();
  await my?.drop();
  if (haveClickhouse) await clickhouseExec(`drop database if exists ${chDb}`).catch(() => undefined);
});

for (const mode of MODES) {
  describe.runIf(!noSshd && (mode === "embedded" || canDistribute))(`databases behind an SSH bastion (${mode})`, () => {
    let sys: RunningSystem;
    const bodies: string[] = [];
    // No background health checks: the tests count SSH logins (re-tests are asked for explicitly).
    beforeAll(async () => { sys = await startTestSystem({ mode, env: { HEALTH_MONITORING: "false" } }); });
    afterAll(async () => { await sys?.stop(); });

    const post = async (path: string, json: unknown) => {
      const res = await sys.api(path, { method: "POST", json });
      const text = await res.text();
      bodies.push(text);
      return { status: res.status, body: JSON.parse(text) };
    };
    const ssh = (extra: Record<string, unknown> = {}) => ({ host: "127.0.0.1", port: sshd.port, username: SSH_TEST_USER, ...extra });
    // The database host is as the SSH server sees it (here the same machine).
    const pgConfig = (sshExtra: Record<string, unknown> = { password: SSH_TEST_PASSWORD }) =>
      ({ type: "postgresql", host: "127.0.0.1", port: 5432, database: pgSrc.database, username: "postgres", ssh: ssh(sshExtra) });

    it("password login: the test returns the host key, connect pins it, secrets are redacted and encrypted at rest", async () => {
      const t = await post("/api/data/database/test", pgConfig());
      expect(t.body).toMatchObject({ success: true, ssh_host_key_sha256: sshd.hostKeySha256 });

      const c = await post("/api/data/database/connect", { ...pgConfig(), name: "behind bastion" });
      expect(c.status).toBe(201);
      const ds = c.body.data_source;
      expect(ds.connection_config.ssh).toEqual({ host: "127.0.0.1", port: sshd.port, username: SSH_TEST_USER, password: REDACTED, host_key_sha256: sshd.hostKeySha256 });
      expect(ds.schema.tables.map((x: { name: string }) => x.name)).toContain("t");
      const q = await post(`/api/data/sources/${ds.id}/query`, { sql: "select count(*)::int as n, max(label) as m from t" });
      expect(q.status).toBe(200);
      expect(q.body.rows).toEqual([[20000, "row 9999"]]);
      const got = await (await sys.api(`/api/data/sources/${ds.id}`)).json();
      expect(got.data_source.connection_config.ssh.password).toBe(REDACTED);

      if (sys.env.DATABASE_URL) {
        // The catalog's row: the SSH password sealed like every other secret, with the seed's marker beside it.
        const cat = new pg.Client({ connectionString: sys.env.DATABASE_URL });
        await cat.connect();
        try {
          const row = (await cat.query("select connection_config from data_sources where id = $1", [ds.id])).rows[0];
          const stored = typeof row.connection_config === "string" ? JSON.parse(row.connection_config) : row.connection_config;
          expect(stored.ssh).toMatchObject({ __enc_password: true, host_key_sha256: sshd.hostKeySha256 });
          expect(stored.ssh.password).toMatch(/^gAAAA/);
          expect(JSON.stringify(stored)).not.toContain(SSH_TEST_PASSWORD);
        } finally {
          await cat.end();
        }
      }
    });

    it("key login to MariaDB: a plain ed25519 key, and an encrypted one with its passphrase", async () => {
      const cfg = (sshExtra: Record<string, unknown>) => ({ type: "mysql", host: "127.0.0.1", database: my.database, username: my.user, password: my.password, ssh: ssh(sshExtra) });
      const plain = await post("/api/data/database/test", cfg({ private_key: sshd.privateKey() }));
      expect(plain.body).toMatchObject({ success: true, ssh_host_key_sha256: sshd.hostKeySha256 });
      const noPass = await post("/api/data/database/test", cfg({ private_key: sshd.privateKey(true) }));
      expect(noPass.body).toMatchObject({ success: false, code: "CONNECTION_FAILED", error: expect.stringMatching(/SSH private_key.*passphrase/) });

      const c = await post("/api/data/database/connect", { ...cfg({ private_key: sshd.privateKey(true), passphrase: sshd.encryptedKeyPassphrase }), name: "maria via key" });
      expect(c.status).toBe(201);
      expect(c.body.data_source.connection_config.ssh).toMatchObject({ private_key: REDACTED, passphrase: REDACTED, host_key_sha256: sshd.hostKeySha256 });
      const q = await post(`/api/data/sources/${c.body.data_source.id}/query`, { sql: "select id, title from items where id >= ? order by id", params: [1] });
      expect(q.body.rows).toEqual([[1, "pen"], [2, "ink"]]);
      const all = bodies.join("\n");
      for (const secret of [sshd.privateKey(), sshd.privateKey(true), sshd.encryptedKeyPassphrase, SSH_TEST_PASSWORD]) expect(all).not.toContain(secret);
      expect(all).not.toContain("PRIVATE KEY");
    });

    it.runIf(haveClickhouse)("ClickHouse over HTTP through the tunnel", async () => {
      const c = await post("/api/data/database/connect", { type: "clickhouse", host: "127.0.0.1", database: chDb, ssh: ssh({ password: SSH_TEST_PASSWORD }), name: "ch via ssh" });
      expect(c.status).toBe(201);
      const q = await post(`/api/data/sources/${c.body.data_source.id}/query`, { sql: `select url, count() as n from ${chDb}.hits group by url order by url` });
      expect(q.status).toBe(200);
      expect(q.body.rows.map((r: unknown[]) => [r[0], Number(r[1])])).toEqual([["/a", 2], ["/b", 1]]);
    });

    it("names the failing SSH step: wrong password, changed host key, refused SSH port, unreachable database", async () => {
      const wrong = await post("/api/data/database/test", pgConfig({ password: WRONG }));
      expect(wrong.body).toMatchObject({ success: false, code: "CONNECTION_FAILED", error: expect.stringMatching(/^SSH login to 127\.0\.0\.1:\d+ as dsbssh failed: wrong password or key/) });
      expect(wrong.body.error).not.toContain(WRONG);

      const changed = await post("/api/data/database/test", pgConfig({ password: SSH_TEST_PASSWORD, host_key_sha256: OTHER_KEY }));
      expect(changed.body).toMatchObject({ success: false, code: "CONNECTION_FAILED" });
      expect(changed.body.error).toContain(`SSH host key changed: expected ${OTHER_KEY}, got ${sshd.hostKeySha256}`);
      const refusedConnect = await post("/api/data/database/connect", { ...pgConfig({ password: SSH_TEST_PASSWORD, host_key_sha256: OTHER_KEY }), name: "mitm" });
      expect(refusedConnect.status).toBe(422);
      expect(refusedConnect.body.code).toBe("CONNECTION_FAILED");

      const closedPort = await freePort();
      const refused = await post("/api/data/database/test", { ...pgConfig(), ssh: { ...ssh({ password: SSH_TEST_PASSWORD }), port: closedPort } });
      expect(refused.body).toMatchObject({ success: false, code: "CONNECTION_FAILED", error: expect.stringMatching(/^SSH server at 127\.0\.0\.1:\d+ refused the connection/) });

      const dbDown = await post("/api/data/database/test", { ...pgConfig(), port: closedPort });
      expect(dbDown.body).toMatchObject({ success: false, code: "CONNECTION_FAILED", error: expect.stringMatching(/^Through SSH \(127\.0\.0\.1:\d+\): the database at 127\.0\.0\.1:\d+ could not be reached/) });
    });

    it("applies the address policy to the SSH host (metadata address: 403 before any dial)", async () => {
      const r = await post("/api/data/database/test", { ...pgConfig(), ssh: { ...ssh({ password: SSH_TEST_PASSWORD }), host: "169.254.169.254" } });
      expect(r.status).toBe(403);
      expect(r.body.code).toBe("ADDRESS_NOT_ALLOWED");
      const bad = await post("/api/data/database/test", { ...pgConfig(), ssh: { ...ssh(), passwrd: "x" } });
      expect(bad.status).toBe(400);
    });

    it("exports CSV through the tunnel", async () => {
      const c = await post("/api/data/database/connect", { ...pgConfig(), name: "export via ssh" });
      const res = await sys.api(`/api/data/sources/${c.body.data_source.id}/query?format=csv`, { method: "POST", json: { sql: "select id, label from t order by id" } });
      expect(res.status).toBe(200);
      const lines = (await res.text()).trimEnd().split(/\r?\n/);
      expect(lines).toHaveLength(20001);
      expect(lines[0]).toBe("id,label");
      expect(lines[20000]).toBe("20000,row 20000");
    });

    it("one SSH login per source: concurrent queries share its tunnel", async () => {
      const c = await post("/api/data/database/connect", { ...pgConfig(), name: "shared tunnel" });
      const logins = () => sshd.log.split("\n").filter((l) => l.includes(`Accepted password for ${SSH_TEST_USER}`)).length;
      const before = logins();
      const rs = await Promise.all(Array.from({ length: 8 }, (_, i) =>
        post(`/api/data/sources/${c.body.data_source.id}/query`, { sql: "select $1::int as i, pg_backend_pid() as pid from pg_sleep(0.2)", params: [i] })));
      expect(rs.map((r) => r.status)).toEqual(Array(8).fill(200));
      // Several database sessions (channels), one SSH login.
      expect(new Set(rs.map((r) => r.body.rows[0][1])).size).toBeGreaterThan(1);
      expect(logins() - before).toBe(1);
    });

    it("PATCH: SSH secrets left out or sent back redacted keep their stored values; a wrong one changes nothing; another SSH server is pinned anew", async () => {
      const c = await post("/api/data/database/connect", { ...pgConfig(), name: "patched" });
      const id = c.body.data_source.id;
      const patch = async (json: unknown) => {
        const res = await sys.api(`/api/data/sources/${id}`, { method: "PATCH", json });
        const text = await res.text();
        bodies.push(text);
        return { status: res.status, body: JSON.parse(text) };
      };
      const wrong = await patch({ ssh: { password: WRONG } });
      expect(wrong.status).toBe(422);
      expect(wrong.body.error).toMatch(/^SSH login to/);
      const kept = await patch({ name: "renamed", ssh: { ...c.body.data_source.connection_config.ssh, username: SSH_TEST_USER } });
      expect(kept.status).toBe(200);
      expect(kept.body.data_source.connection_config.ssh).toMatchObject({ password: REDACTED, host_key_sha256: sshd.hostKeySha256 });
      const toKey = await patch({ ssh: { password: null, private_key: sshd.privateKey() } });
      expect(toKey.status).toBe(200);
      expect(toKey.body.data_source.connection_config.ssh).not.toHaveProperty("password");
      expect(toKey.body.data_source.connection_config.ssh.private_key).toBe(REDACTED);
      const mitm = await patch({ ssh: { host_key_sha256: OTHER_KEY } });
      expect(mitm.status).toBe(422);
      expect(mitm.body.error).toMatch(/^SSH host key changed/);

      const other = await TestSshd.start();
      try {
        const moved = await patch({ ssh: { port: other.port, private_key: other.privateKey() } });
        expect(moved.status).toBe(200);
        expect(moved.body.data_source.connection_config.ssh).toMatchObject({ port: other.port, host_key_sha256: other.hostKeySha256 });
        expect(other.hostKeySha256).not.toBe(sshd.hostKeySha256);
        const q = await post(`/api/data/sources/${id}/query`, { sql: "select count(*)::int from t" });
        expect(q.body.rows).toEqual([[20000]]);
      } finally {
        await other.stop();
      }
    });

    it("survives the SSH server being killed and restarted under a live source, without a connector restart", async () => {
      const c = await post("/api/data/database/connect", { ...pgConfig(), name: "bastion restarts" });
      const id = c.body.data_source.id;
      const query = () => post(`/api/data/sources/${id}/query`, { sql: "select count(*)::int from t" });
      expect((await query()).body.rows).toEqual([[20000]]);

      await sshd.kill();
      // While it is down: a 422 naming SSH (the first query may still meet a channel that is closing).
      let down: Awaited<ReturnType<typeof query>> | null = null;
      for (let i = 0; i < 20; i++) {
        const r = await query();
        if (r.status !== 200) { down = r; if (/SSH/.test(r.body.error)) break; }
      }
      expect(down?.status).toBe(422);
      expect(down?.body).toMatchObject({ code: "CONNECTION_FAILED", error: expect.stringMatching(/^SSH server at 127\.0\.0\.1:\d+ refused the connection/) });
      const retest = await post(`/api/data/sources/${id}/test`, {});
      expect(retest.body).toMatchObject({ success: false, code: "CONNECTION_FAILED", error: expect.stringMatching(/^SSH server at/) });

      await sshd.start();
      const back = await query();
      expect(back.status).toBe(200);
      expect(back.body.rows).toEqual([[20000]]);
      expect((await post(`/api/data/sources/${id}/test`, {})).body).toMatchObject({ success: true });
    });
  });
}
