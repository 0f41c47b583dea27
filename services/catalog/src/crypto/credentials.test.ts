import { describe, expect, it } from "vitest";
import { REDACTED, redactConfig } from "@dsb/contracts";
import { decryptConfig, encryptConfig, needsReencryption, UndecryptableField } from "./credentials.ts";
import { Fernet, MultiFernet } from "./fernet.ts";

const SSH = { host: "bastion.example.com", port: 22, username: "tunnel", password: "ssh-Pass-Canary", private_key: "-----BEGIN OPENSSH PRIVATE KEY-----x", passphrase: "pp-Canary", host_key_sha256: `SHA256:${"A".repeat(43)}` };
const config = { type: "postgresql", host: "10.0.0.5", password: "db-Pass", ssh: SSH };

describe("secrets inside ssh", () => {
  const key = Fernet.generateKey();
  const keys = new MultiFernet([key]);

  it("are encrypted in place with their markers beside them, and open again", () => {
    const sealed = encryptConfig(config, keys);
    const ssh = sealed.ssh as Record<string, unknown>;
    expect(ssh).toMatchObject({ host: "bastion.example.com", __enc_password: true, __enc_private_key: true, __enc_passphrase: true, host_key_sha256: SSH.host_key_sha256 });
    for (const f of ["password", "private_key", "passphrase"]) expect(String(ssh[f])).toMatch(/^gAAAA/);
    expect(JSON.stringify(sealed)).not.toMatch(/Canary|BEGIN OPENSSH/);
    expect(decryptConfig(sealed, keys)).toEqual(config);
    expect(needsReencryption(sealed, new Fernet(key))).toBe(false);
  });

  it("a plaintext ssh secret (or one sealed by an older key) asks for re-encryption; one no key opens names its field", () => {
    const sealed = encryptConfig(config, keys);
    expect(needsReencryption({ ...sealed, ssh: { ...SSH } }, new Fernet(key))).toBe(true);
    expect(needsReencryption(sealed, new Fernet(Fernet.generateKey()))).toBe(true);
    const other = new MultiFernet([Fernet.generateKey()]);
    const foreign = { ...sealed, password: encryptConfig(config, other).password, ssh: (encryptConfig(config, other) as { ssh: unknown }).ssh, __enc_password: undefined };
    expect(() => decryptConfig(foreign, keys)).toThrow(UndecryptableField);
    expect(() => decryptConfig(foreign, keys)).toThrow(/ssh\.password/);
  });

  it("are redacted in responses, with no markers", () => {
    const shown = redactConfig(encryptConfig(config, keys));
    expect(shown.ssh).toEqual({ host: "bastion.example.com", port: 22, username: "tunnel", password: REDACTED, private_key: REDACTED, passphrase: REDACTED, host_key_sha256: SSH.host_key_sha256 });
  });
});
