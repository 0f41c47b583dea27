import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { isolatedBus } from "@dsb/runtime/testing";
import { Fernet } from "./crypto/fernet.ts";
import { startCatalog } from "./index.ts";
import { capturedLogger, testEnv } from "../../../test/support/catalog/backends.ts";

/**
 * Start-up rules for the encryption key. These start their own catalog, so they
 * use a private in-process bus: on a shared NATS it would join the contract
 * suite's queue group and answer its requests.
 */
const dirs: string[] = [];
const tempDir = async () => {
  const d = await mkdtemp(join(tmpdir(), "dsb-catalog-start-"));
  dirs.push(d);
  return d;
};
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe("catalog start-up and the encryption key", () => {
  it("refuses to start without ENCRYPTION_KEY outside embedded mode, before opening the database", async () => {
    const dir = await tempDir();
    const { log } = capturedLogger("catalog");
    const env = testEnv({ NATS_URL: "nats://127.0.0.1:4222", DATA_DIR: dir });
    await expect(startCatalog({ env, bus: isolatedBus(), log, replicaId: "r1" })).rejects.toThrow(/^ENCRYPTION_KEY is not set/);
    expect(existsSync(join(dir, "catalog"))).toBe(false);
  });

  it("rejects a malformed key, naming ENCRYPTION_KEY but never echoing it", async () => {
    const { log } = capturedLogger("catalog");
    const bad = "definitely-not-a-fernet-key";
    const env = testEnv({ NATS_URL: "nats://127.0.0.1:4222", DATA_DIR: await tempDir(), ENCRYPTION_KEY: `${Fernet.generateKey()},${bad}` });
    const err = await startCatalog({ env, bus: isolatedBus(), log, replicaId: "r1" }).catch((e: Error) => e);
    expect(String(err)).toMatch(/ENCRYPTION_KEY: key number 2 is not a Fernet key/);
    expect(String(err)).not.toContain(bad);
  });

  it("embedded mode generates a 0600 key file once, says so without the key, and keeps using it", async () => {
    const dir = await tempDir();
    const env = testEnv({ DATA_DIR: dir });
    const { log, lines } = capturedLogger("catalog");
    const bus = isolatedBus();
    const actor = { tenant_id: "t", user_id: "u" };

    let catalog = await startCatalog({ env, bus, log, replicaId: "r1" });
    const { source } = await bus.request("catalog.source.create", { actor, source: { name: "db", type: "database", connection_config: { type: "mysql", host: "h", password: "hunter2" } } });
    await catalog.stop();

    const keyFile = join(dir, "encryption.key");
    const key = (await readFile(keyFile, "utf8")).trim();
    expect(() => new Fernet(key)).not.toThrow();
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    const logs = lines.join("");
    expect(logs).toContain("generated an encryption key file");
    expect(logs).not.toContain(key);

    catalog = await startCatalog({ env, bus, log, replicaId: "r2" });
    const resolved = await bus.request("catalog.config.resolve", { tenant_id: "t", id: source.id });
    expect(resolved).toMatchObject({ db_type: "mysql", config: { password: "hunter2" } });
    await catalog.stop();
    expect((await readFile(keyFile, "utf8")).trim()).toBe(key);
    expect(lines.join("")).not.toContain("hunter2");
  });
});
