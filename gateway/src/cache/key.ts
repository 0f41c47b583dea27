import { sha256js } from "@dsb/storage/sha256";

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
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(",")}}`;
}

const b64url = (s: string) => btoa(String.fromCharCode(...new TextEncoder().encode(s))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

/**
 * A bounded memo of a pure function of a string: a cache hit repeats the same key
 * computation on every request (base64 of the ids, SHA-256 of the parts). Cleared
 * when full rather than kept in LRU order: a memo, not a store.
 */
function memo(max: number, fn: (s: string) => string): (s: string) => string {
  const seen = new Map<string, string>();
  return (s) => {
    let v = seen.get(s);
    if (v === undefined) {
      if (seen.size >= max) seen.clear();
      v = fn(s);
      seen.set(s, v);
    }
    return v;
  };
}

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
