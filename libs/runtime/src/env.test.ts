import { describe, expect, it } from "vitest";
import { parseEnv } from "./env.ts";

describe("parseEnv", () => {
  it("gives embedded defaults with no variables", () => {
    const env = parseEnv({});
    expect(env).toMatchObject({ PORT: 8080, JWT_TENANT_CLAIM: "tenant_id", DATA_DIR: "./.data", MAX_UPLOAD_BYTES: 1024 ** 3, embedded: true, allowPrivateHosts: true });
  });

  it("turns private hosts off by default in distributed mode", () => {
    expect(parseEnv({ NATS_URL: "nats://x:4222" })).toMatchObject({ embedded: false, allowPrivateHosts: false });
    expect(parseEnv({ NATS_URL: "nats://x:4222", ALLOW_PRIVATE_HOSTS: "true" }).allowPrivateHosts).toBe(true);
  });

  it("names the variable when a value is bad", () => {
    expect(() => parseEnv({ PORT: "eighty" })).toThrow(/PORT/);
    expect(() => parseEnv({ ALLOW_PRIVATE_HOSTS: "maybe" })).toThrow(/ALLOW_PRIVATE_HOSTS: expected true or false/);
    expect(() => parseEnv({ JWT_JWKS_URL: "not a url" })).toThrow(/JWT_JWKS_URL/);
  });
});
