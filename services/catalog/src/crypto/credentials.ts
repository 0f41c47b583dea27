import { SENSITIVE_FIELDS } from "@dsb/contracts";
import { type Fernet, InvalidToken, type MultiFernet } from "./fernet.ts";

/**
 * The seed's at-rest format: `"password": "gAAAA…", "__enc_password": true`.
 * Non-string secrets (a BigQuery credentials object) are JSON-encoded before
 * encryption and marked `"__enc_credentials": "json"`: a truthy marker, so the
 * Python code still decrypts the field (to the JSON string), and we parse it back.
 */
export const MARKER_PREFIX = "__enc_";
export const JSON_MARKER = "json";

const marker = (field: string) => `${MARKER_PREFIX}${field}`;
const present = (v: unknown) => v !== undefined && v !== null && v !== "";

/** A stored secret no configured key opens: names the field, never its value. */
export class UndecryptableField extends Error {
  constructor(readonly field: string) {
    super(`Stored ${field} cannot be decrypted with any key in ENCRYPTION_KEY; add the key it was encrypted with`);
    this.name = "UndecryptableField";
  }
}

/** Encrypts every sensitive field with the first key; markers sent by a caller are dropped. */
export function encryptConfig(config: Record<string, unknown>, keys: MultiFernet): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config)) if (!k.startsWith(MARKER_PREFIX)) out[k] = v;
  for (const field of SENSITIVE_FIELDS) {
    const v = config[field];
    if (!present(v)) continue;
    const isString = typeof v === "string";
    out[field] = keys.encrypt(isString ? v : JSON.stringify(v));
    out[marker(field)] = isString ? true : JSON_MARKER;
  }
  return out;
}

/** Opens every marked field; unmarked fields (the old plaintext fallback) are read as they are. */
export function decryptConfig(stored: Record<string, unknown>, keys: MultiFernet): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(stored)) if (!k.startsWith(MARKER_PREFIX)) out[k] = v;
  for (const [k, flag] of Object.entries(stored)) {
    if (!k.startsWith(MARKER_PREFIX) || !flag) continue;
    const field = k.slice(MARKER_PREFIX.length);
    const token = stored[field];
    if (typeof token !== "string") continue;
    let plain: string;
    try {
      plain = keys.decrypt(token);
    } catch (e) {
      if (e instanceof InvalidToken) throw new UndecryptableField(field);
      throw e;
    }
    out[field] = flag === JSON_MARKER ? parseJsonOr(plain) : plain;
  }
  return out;
}

function parseJsonOr(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

/** True when a stored config has a plaintext secret or a secret not sealed by `primary`. */
export function needsReencryption(stored: Record<string, unknown>, primary: Fernet): boolean {
  for (const field of SENSITIVE_FIELDS) {
    const v = stored[field];
    if (!present(v)) continue;
    if (!stored[marker(field)] || typeof v !== "string") return true;
    try {
      primary.decryptBytes(v);
    } catch {
      return true;
    }
  }
  return false;
}
