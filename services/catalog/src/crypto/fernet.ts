import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Fernet (github.com/fernet/spec) on node:crypto, interchangeable with Python's
 * `cryptography.fernet.Fernet`: AES-128-CBC + HMAC-SHA256, version byte 0x80.
 * Tokens are emitted in the padded urlsafe base64 form Python emits. TTL is not
 * applied: stored credentials do not expire.
 */
export class InvalidToken extends Error {
  constructor() {
    super("Invalid Fernet token");
    this.name = "InvalidToken";
  }
}

const VERSION = 0x80;
const HEADER = 1 + 8 + 16; // version, timestamp, iv
const MAC = 32;
const B64URL = /^[A-Za-z0-9_-]*$/;

/**
 * Strict base64url: url-safe alphabet only, padding optional but correct when
 * present, and canonical (no stray bits), so one token has one spelling.
 */
export function decodeBase64Url(s: string): Buffer | null {
  const body = s.replace(/={1,2}$/, "");
  if (!B64URL.test(body) || body.length % 4 === 1) return null;
  if (body.length !== s.length && s.length % 4 !== 0) return null;
  const buf = Buffer.from(body, "base64url");
  return buf.toString("base64url") === body ? buf : null;
}

const encodeBase64Url = (b: Buffer) => {
  const s = b.toString("base64url");
  return s + "=".repeat((4 - (s.length % 4)) % 4);
};

export class Fernet {
  private readonly signingKey: Buffer;
  private readonly encryptionKey: Buffer;

  /** `key`: 32 bytes in url-safe base64 (what `Fernet.generate_key()` prints). */
  constructor(key: string) {
    const raw = decodeBase64Url(key.trim());
    if (!raw || raw.length !== 32) throw new Error("A Fernet key is 32 bytes in url-safe base64 (44 characters ending in '=')");
    this.signingKey = raw.subarray(0, 16);
    this.encryptionKey = raw.subarray(16);
  }

  static generateKey(): string {
    return encodeBase64Url(randomBytes(32));
  }

  /** `iv` and `now` are for the spec's test vectors; leave them out otherwise. */
  encrypt(plaintext: string | Buffer, opts: { iv?: Buffer; now?: Date } = {}): string {
    const iv = opts.iv ?? randomBytes(16);
    const ts = Buffer.alloc(8);
    ts.writeBigUInt64BE(BigInt(Math.floor((opts.now ?? new Date()).getTime() / 1000)));
    const cipher = createCipheriv("aes-128-cbc", this.encryptionKey, iv);
    const data = typeof plaintext === "string" ? Buffer.from(plaintext, "utf8") : plaintext;
    const signed = Buffer.concat([Buffer.from([VERSION]), ts, iv, cipher.update(data), cipher.final()]);
    const mac = createHmac("sha256", this.signingKey).update(signed).digest();
    return encodeBase64Url(Buffer.concat([signed, mac]));
  }

  decryptBytes(token: string): Buffer {
    const raw = decodeBase64Url(token);
    if (!raw || raw.length < HEADER + 16 + MAC || raw[0] !== VERSION) throw new InvalidToken();
    const signed = raw.subarray(0, raw.length - MAC);
    const ciphertext = signed.subarray(HEADER);
    if (ciphertext.length % 16 !== 0) throw new InvalidToken();
    const expected = createHmac("sha256", this.signingKey).update(signed).digest();
    if (!timingSafeEqual(expected, raw.subarray(raw.length - MAC))) throw new InvalidToken();
    try {
      const decipher = createDecipheriv("aes-128-cbc", this.encryptionKey, signed.subarray(9, HEADER));
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    } catch {
      throw new InvalidToken(); // bad PKCS#7 padding
    }
  }

  decrypt(token: string): string {
    return this.decryptBytes(token).toString("utf8");
  }
}

/** Several keys: the first encrypts, every one decrypts (key rotation). */
export class MultiFernet {
  private readonly fernets: Fernet[];
  constructor(keys: readonly string[]) {
    if (keys.length === 0) throw new Error("MultiFernet needs at least one key");
    this.fernets = keys.map((k) => new Fernet(k));
  }

  get primary(): Fernet {
    return this.fernets[0]!;
  }

  encrypt(plaintext: string): string {
    return this.primary.encrypt(plaintext);
  }

  decrypt(token: string): string {
    for (const f of this.fernets) {
      try {
        return f.decrypt(token);
      } catch {
        // try the next key
      }
    }
    throw new InvalidToken();
  }
}
