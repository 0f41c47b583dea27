import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { decodeBase64Url, Fernet, InvalidToken, MultiFernet } from "./fernet.ts";

interface Vector { token: string; now: string; secret: string; src?: string; iv?: number[]; desc?: string }
const spec = JSON.parse(readFileSync(new URL("../../../../../shared/fixtures/fernet-spec.json", import.meta.url), "utf8")) as {
  generate: Vector[]; verify: Vector[]; invalid: Vector[];
};

describe("Fernet spec vectors", () => {
  it.each(spec.generate)("generates the spec token for $src", (v) => {
    const token = new Fernet(v.secret).encrypt(v.src!, { iv: Buffer.from(v.iv!), now: new Date(v.now) });
    expect(token).toBe(v.token);
  });

  it.each(spec.verify)("verifies the spec token for $src", (v) => {
    expect(new Fernet(v.secret).decrypt(v.token)).toBe(v.src);
  });

  it.each(spec.invalid)("rejects: $desc", (v) => {
    expect(() => new Fernet(v.secret).decrypt(v.token)).toThrow(InvalidToken);
  });
});

describe("Fernet", () => {
  it("round-trips with a generated key and accepts the unpadded form", () => {
    const f = new Fernet(Fernet.generateKey());
    const token = f.encrypt("pässword 🔑");
    expect(token.startsWith("gAAAAA")).toBe(true);
    expect(f.decrypt(token)).toBe("pässword 🔑");
    expect(f.decrypt(token.replace(/=+$/, ""))).toBe("pässword 🔑");
  });

  it("rejects a token signed by another key and tampered tokens", () => {
    const a = new Fernet(Fernet.generateKey());
    const b = new Fernet(Fernet.generateKey());
    const token = a.encrypt("x");
    expect(() => b.decrypt(token)).toThrow(InvalidToken);
    const flipped = token.slice(0, 20) + (token[20] === "A" ? "B" : "A") + token.slice(21);
    expect(() => a.decrypt(flipped)).toThrow(InvalidToken);
  });

  it("is strict about base64url", () => {
    expect(decodeBase64Url("aGVsbG8")?.toString()).toBe("hello");
    expect(decodeBase64Url("aGVsbG8=")?.toString()).toBe("hello");
    expect(decodeBase64Url("aGVsbG9=")).toBeNull(); // non-canonical trailing bits
    expect(decodeBase64Url("aGVs+G8=")).toBeNull(); // standard alphabet
    expect(decodeBase64Url("aGVsbG8==")).toBeNull(); // wrong padding
    expect(decodeBase64Url("aGVs bG8=")).toBeNull();
  });

  it("refuses malformed keys without echoing them", () => {
    expect(() => new Fernet("not-a-key")).toThrow(/32 bytes/);
    expect(() => new Fernet("not-a-key")).not.toThrow(/not-a-key/);
  });

  it("MultiFernet encrypts with the first key and decrypts with any", () => {
    const [k1, k2] = [Fernet.generateKey(), Fernet.generateKey()];
    const old = new Fernet(k2).encrypt("old");
    const m = new MultiFernet([k1, k2]);
    expect(m.decrypt(old)).toBe("old");
    expect(new Fernet(k1).decrypt(m.encrypt("new"))).toBe("new");
    expect(() => new MultiFernet([k1]).decrypt(old)).toThrow(InvalidToken);
  });
});
