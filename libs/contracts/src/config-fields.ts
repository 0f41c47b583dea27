import { z } from "zod";
import { AppError } from "./errors.ts";

/** Fields a client may send with any database config besides its type's own fields: the old client's `db_type`. */
export const CLIENT_ONLY_FIELDS = ["db_type"] as const;

/** Levenshtein distance (small strings: field names). */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/**
 * The known field a misspelt one most likely meant: the nearest by edit
 * distance within 2 (`passwrd` → `password`), or one that starts with the
 * other (`user` → `username`, `hostname` → `host`); null when none is close.
 */
export function closestField(unknown: string, known: readonly string[]): string | null {
  const u = unknown.toLowerCase();
  let best: string | null = null;
  let bestScore = Infinity;
  for (const k of known) {
    const d = editDistance(u, k);
    const near = d <= 2 || (Math.min(u.length, k.length) >= 3 && (k.startsWith(u) || u.startsWith(k)));
    if (near && d < bestScore) [best, bestScore] = [k, d];
  }
  return best;
}

/** The object schema inside optional/default wrappers, if any (the `ssl` object). */
function objectShape(schema: z.ZodType): Record<string, z.ZodType> | null {
  let s: z.ZodType = schema;
  for (let i = 0; i < 4; i++) {
    if (s instanceof z.ZodObject) return s.shape as Record<string, z.ZodType>;
    if (s instanceof z.ZodOptional || s instanceof z.ZodDefault || s instanceof z.ZodNullable) s = s.unwrap() as z.ZodType;
    else return null;
  }
  return null;
}

/** Unknown keys of `input` against `shape` (one level into nested objects such as `ssl`), as dotted paths with their known siblings. */
function unknownKeys(input: Record<string, unknown>, shape: Record<string, z.ZodType>, extra: readonly string[], prefix = ""): { path: string; field: string; known: string[] }[] {
  const known = [...Object.keys(shape), ...extra];
  const out: { path: string; field: string; known: string[] }[] = [];
  for (const [k, v] of Object.entries(input)) {
    const field = shape[k];
    if (!field && !extra.includes(k)) {
      out.push({ path: prefix + k, field: k, known });
      continue;
    }
    const nested = field && v && typeof v === "object" && !Array.isArray(v) ? objectShape(field) : null;
    if (nested) out.push(...unknownKeys(v as Record<string, unknown>, nested, [], `${prefix}${k}.`));
  }
  return out;
}

/**
 * Refuses fields the config schema of `type` does not know, with a 400
 * VALIDATION naming each and the closest known field. The known fields are
 * the zod schema's own keys: a field added to a schema is accepted here at once.
 */
export function refuseUnknownFields(type: string, input: Record<string, unknown>, schema: z.ZodObject): void {
  const unknown = unknownKeys(input, schema.shape as Record<string, z.ZodType>, CLIENT_ONLY_FIELDS);
  if (!unknown.length) return;
  const described = unknown.map((u) => {
    const near = closestField(u.field, u.known);
    return { field: u.path, did_you_mean: near ? u.path.slice(0, -u.field.length) + near : null };
  });
  const parts = described.map((d) => `"${d.field}"${d.did_you_mean ? ` (did you mean "${d.did_you_mean}"?)` : ""}`);
  const known = unknown[0]!.known.filter((k) => !(CLIENT_ONLY_FIELDS as readonly string[]).includes(k)).join(", ");
  throw new AppError("VALIDATION",
    `Unknown field${parts.length > 1 ? "s" : ""} in a ${type} config: ${parts.join(", ")}. Known fields${unknown[0]!.path.includes(".") ? ` of ${unknown[0]!.path.split(".")[0]}` : ""}: ${known}`,
    { details: { unknown_fields: described } });
}
