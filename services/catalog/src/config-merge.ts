import { REDACTED, SENSITIVE_FIELDS } from "@dsb/contracts";

const isPlainObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === "object" && !Array.isArray(v);
const SECRET: ReadonlySet<string> = new Set(SENSITIVE_FIELDS);

/**
 * A stored (decrypted) config with a PATCH's config fields applied:
 * - a field left out keeps its stored value, secrets included;
 * - `"********"` (what responses show for a secret) keeps the stored value too, at any depth,
 *   so a client may send back the redacted config it was given;
 * - null removes the field;
 * - objects (ssl, ssh) merge field by field, except secrets (a BigQuery credentials object is replaced whole).
 */
export function mergeConfig(stored: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...stored };
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined || v === REDACTED) continue;
    if (v === null) delete out[k];
    else if (isPlainObject(v) && isPlainObject(stored[k]) && !SECRET.has(k)) out[k] = mergeConfig(stored[k] as Record<string, unknown>, v);
    else out[k] = v;
  }
  return out;
}

/** JSON with object keys sorted: two configs are the same config when these are equal. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (isPlainObject(v)) return `{${Object.keys(v).sort().filter((k) => v[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`).join(",")}}`;
  return JSON.stringify(v);
}
