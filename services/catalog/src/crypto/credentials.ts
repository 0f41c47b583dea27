import { NESTED_SECRET_OBJECTS, SENSITIVE_FIELDS } from "@dsb/contracts";
import { type Fernet, InvalidToken, type MultiFernet } from "./fernet.ts";

/**
 * The seed's at-rest format: `"password": "gAAAA…", "__enc_password": true`.
 * Non-string secrets (a BigQuery credentials object) are JSON-encoded before
 * encryption and marked `"__enc_credentials": "json"`: a truthy marker, so the
 * Python code still decrypts the field (to the JSON string), and we parse it back.
 * Objects named in NESTED_SECRET_OBJECTS (`ssh`) carry their own secrets and markers
 * inside them, the same way: `"ssh": {"password": "gAAAA…", "__enc_password": true, …}`.
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

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === "object" && !Array.isArray(v);

/** The config's nested secret-holding objects (`ssh`), by field name. */
function* nestedObjects(config: Record<string, unknown>): Generator<[string, Record<string, unknown>]> {
  for (const k of NESTED_SECRET_OBJECTS) {
    const v = config[k];
    if (isObject(v)) yield [k, v];
  }
}

/** Encrypts every sensitive field (and those of `ssh`) with the first key; markers sent by a caller are dropped. */
export function encryptConfig(config: Record<string, unknown>, keys: MultiFernet): Record<string, unknown> {
  const out = encryptFields(config, keys);
  for (const [k, v] of nestedObjects(config)) out[k] = encryptFields(v, keys);
  return out;
}

function encryptFields(config: Record<string, unknown>, keys: MultiFernet): Record<string, unknown> {
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

/** Opens every marked field (and those of `ssh`); unmarked fields (the old plaintext fallback) are read as they are. */
export function decryptConfig(stored: Record<string, unknown>, keys: MultiFernet): Record<string, unknown> {
  const out = decryptFields(stored, keys);
  for (const [k, v] of nestedObjects(stored)) out[k] = decryptFields(v, keys, `${k}.`);
  return out;
}

function decryptFields(stored: Record<string, unknown>, keys: MultiFernet, path = ""): Record<string, unknown> {
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
      if (e instanceof InvalidToken) throw new UndecryptableField(path + field);
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

/** True when a stored config (or its `ssh`) has a plaintext secret or a secret not sealed by `primary`. */
export function needsReencryption(stored: Record<string, unknown>, primary: Fernet): boolean {
  if (fieldsNeedReencryption(stored, primary)) return true;
  for (const [, v] of nestedObjects(stored)) if (fieldsNeedReencryption(v, primary)) return true;
  return false;
}

function fieldsNeedReencryption(stored: Record<string, unknown>, primary: Fernet): boolean {
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
