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
  return `${sourcePrefix(p.tenant, p.sourceId)}.${digestOf(p)}`;
}

function digestOf(p: CacheKeyParts): string {
  const text = canonicalJson({
    v: 1, tenant: p.tenant, source: p.sourceId, version: p.version, sql: p.sql, params: p.params,
    query_config: p.query_config, collection: p.collection, pipeline: p.pipeline, limit: p.limit, read_only: p.read_only,
  });
  return text.length <= MEMO_TEXT_CHARS ? sha256Memo(text) : sha256Hex(text);
}

/** The parts of a key that do not come from the request body. */
type OuterParts = Pick<CacheKeyParts, "tenant" | "sourceId" | "version" | "limit" | "read_only">;

/** The last key made from a body, with the parts it was made with besides the body's. */
const byBody = new WeakMap<object, OuterParts & { key: string }>();

/**
 * `cacheKey` of a request: the key of `body`'s query with the outer parts (tenant, source, version,
 * limit, read_only). A deep-frozen body (the route's memoised bodies, shared by every request with
 * the same text) keeps its last key, which is answered again only when every outer part is the same:
 * a repeated cached query skips the canonical text and the digest lookup. Any other body is keyed afresh.
 */
export function requestCacheKey(body: Readonly<Pick<CacheKeyParts, "sql" | "params" | "query_config" | "collection" | "pipeline">>, outer: OuterParts): string {
  const known = byBody.get(body);
  if (known && known.tenant === outer.tenant && known.sourceId === outer.sourceId && known.version === outer.version
    && known.limit === outer.limit && known.read_only === outer.read_only) return known.key;
  const key = cacheKey({ ...outer, sql: body.sql, params: body.params, query_config: body.query_config, collection: body.collection, pipeline: body.pipeline });
  if (Object.isFrozen(body)) byBody.set(body, { ...outer, key });
  return key;
}
