import { sha256js } from "@dsb/storage/sha256";
import { memo } from "../memo.ts";

/** What identifies a cached result. Tenant and source come from the actor and the looked-up source, never the body. */
export interface CacheKeyParts {
  tenant: string;
  sourceId: string;
  /** The source's config version (null for files: their content never changes under one id). */
  version: string | null;
  sql?: string;
  params?: unknown[];
  query_config?: unknown;
  collection?: string;
  pipeline?: unknown[];
  limit: number;
  read_only: boolean;
}

/** JSON with object keys sorted at every depth, so equal values give equal text. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  // Loops rather than map/filter/join: every cached answer computes its key.
  if (Array.isArray(value)) {
    let out = "[";
    for (let i = 0; i < value.length; i++) out += (i === 0 ? "" : ",") + canonicalJson(value[i]);
    return `${out}]`;
  }
  const obj = value as Record<string, unknown>;
  let out = "{";
  for (const k of Object.keys(obj).sort()) {
    const v = obj[k];
    if (v !== undefined) out += (out.length === 1 ? "" : ",") + JSON.stringify(k) + ":" + canonicalJson(v);
  }
  return `${out}}`;
}

const b64url = (s: string) => btoa(String.fromCharCode(...new TextEncoder().encode(s))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

const b64urlMemo = memo(4096, b64url);

/**
 * The key prefix of one source of one tenant: `t_<tenant>.s_<source>` in base64url, so
 * it holds only characters JetStream KV keys allow and a source's entries can be purged
 * by prefix. Distinct (tenant, source) pairs give distinct prefixes: base64url is
 * injective and contains no dot.
 */
export function sourcePrefix(tenant: string, sourceId: string): string {
  return `t_${b64urlMemo(tenant)}.s_${b64urlMemo(sourceId)}`;
}

/**
 * SHA-256 hex of a text, in plain JavaScript, synchronously: crypto.subtle.digest is a
 * round trip through Node's thread pool, ~0.1-0.2 ms of a cached answer's latency for a
 * few hundred bytes.
 */
function sha256Hex(text: string): string {
  const h = sha256js();
  h.update(new TextEncoder().encode(text));
  let hex = "";
  for (const b of h.digest()) hex += b.toString(16).padStart(2, "0");
  return hex;
}

/** Texts of at most this many characters are memoised (a few hundred entries of 4 KiB at most). */
const MEMO_TEXT_CHARS = 4096;
const sha256Memo = memo(512, sha256Hex);

/** `<sourcePrefix>.<sha256 hex of the canonical JSON of every part>`. */
export function cacheKey(p: CacheKeyParts): string {
  const text = canonicalJson({
    v: 1, tenant: p.tenant, source: p.sourceId, version: p.version, sql: p.sql, params: p.params,
    query_config: p.query_config, collection: p.collection, pipeline: p.pipeline, limit: p.limit, read_only: p.read_only,
  });
  const hex = text.length <= MEMO_TEXT_CHARS ? sha256Memo(text) : sha256Hex(text);
  return `${sourcePrefix(p.tenant, p.sourceId)}.${hex}`;
}
