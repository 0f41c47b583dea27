import fc from "fast-check";
import { z } from "zod";

/** The JSON Schema subset zod 4's `z.toJSONSchema` writes for the contracts. */
interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  prefixItems?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  format?: string;
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  default?: unknown;
}

/** Values for fields by name, where a random one would dial the world or leak nothing worth testing. */
export type FieldOverrides = Record<string, fc.Arbitrary<unknown>>;

/**
 * Mostly-valid values of a zod schema (its input side): generated from its JSON Schema, with
 * `overrides` for named fields at any depth. "Mostly": refinements a JSON Schema cannot carry
 * may fail, which the property tests want anyway.
 */
export function arbitraryOf(schema: z.ZodType, overrides: FieldOverrides = {}): fc.Arbitrary<unknown> {
  const root = z.toJSONSchema(schema, { io: "input", unrepresentable: "any", reused: "inline", cycles: "ref" }) as JsonSchema;
  const defs = root.$defs ?? {};
  const build = (s: JsonSchema, depth: number): fc.Arbitrary<unknown> => {
    if (depth > 6) return fc.constant(null);
    if (s.$ref) {
      const target = defs[s.$ref.replace(/^#\/\$defs\//, "")];
      return target ? build(target, depth + 1) : fc.constant(null);
    }
    if (s.const !== undefined) return fc.constant(s.const);
    if (s.enum) return fc.constantFrom(...s.enum);
    const alternatives = s.anyOf ?? s.oneOf;
    if (alternatives?.length) return fc.oneof(...alternatives.map((a) => build(a, depth + 1)));
    if (s.allOf?.length) return build(Object.assign({}, ...s.allOf) as JsonSchema, depth + 1);
    const type = Array.isArray(s.type) ? s.type[0] : s.type;
    switch (type) {
      case "string": {
        if (s.format === "uuid") return fc.uuid();
        if (s.format === "date-time") return fc.date({ noInvalidDate: true }).map((d) => d.toISOString());
        if (s.pattern) {
          try { return fc.stringMatching(new RegExp(s.pattern)).filter((v) => v.length <= (s.maxLength ?? 200)); } catch { /* fall through */ }
        }
        return fc.string({ minLength: s.minLength ?? 0, maxLength: Math.min(s.maxLength ?? 24, 64), unit: "grapheme" });
      }
      case "integer":
      case "number": {
        const min = s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + 1 : -1e6);
        const max = s.maximum ?? (s.exclusiveMaximum !== undefined ? s.exclusiveMaximum - 1 : 1e6);
        const lo = Math.max(min, -Number.MAX_SAFE_INTEGER);
        const hi = Math.min(max, Number.MAX_SAFE_INTEGER);
        return type === "integer" ? fc.integer({ min: Math.ceil(lo), max: Math.floor(hi) }) : fc.double({ min: lo, max: hi, noNaN: true });
      }
      case "boolean": return fc.boolean();
      case "null": return fc.constant(null);
      case "array": {
        if (s.prefixItems) return fc.tuple(...s.prefixItems.map((p) => build(p, depth + 1)));
        return fc.array(s.items ? build(s.items, depth + 1) : json, { minLength: s.minItems ?? 0, maxLength: Math.min(s.maxItems ?? 3, 3) });
      }
      case "object": {
        const props = s.properties ?? {};
        const required = new Set(s.required ?? []);
        const record: Record<string, fc.Arbitrary<unknown>> = {};
        for (const [k, v] of Object.entries(props)) record[k] = overrides[k] ?? build(v, depth + 1);
        if (!Object.keys(props).length && s.additionalProperties) return fc.dictionary(fc.string({ maxLength: 8 }), typeof s.additionalProperties === "object" ? build(s.additionalProperties, depth + 1) : json, { maxKeys: 3 });
        return fc.record(record, { requiredKeys: [...required].filter((k) => k in record) });
      }
      default: return json;
    }
  };
  return build(root, 0);
}

/** Any JSON value, small. */
const json: fc.Arbitrary<unknown> = fc.jsonValue({ maxDepth: 2 });

/** Strings people and attackers type: unicode of every plane, control characters, quotes, SQL and path bits. */
export const nastyString: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.constantFrom("", " ", "\u0000", "\uD800", "\uFEFF", "𝕏".repeat(30), "e\u0301", "'; drop table x; --", "\"", "\\", "../../etc/passwd", "%00", "${7*7}", "{{7*7}}", "<script>alert(1)</script>", "null", "true", "NaN", "-0", "1e309", "__proto__", "constructor"),
);

/** The ways a valid value gets broken: wrong types, huge and strange strings, deep nesting, fields missing or extra. */
export function mutated(valid: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  const wrongType = fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null), nastyString, fc.array(fc.integer(), { maxLength: 3 }), fc.object({ maxDepth: 1 }));
  const huge = fc.constantFrom("x".repeat(100_000), "😀".repeat(20_000), "a,".repeat(30_000));
  const deep = fc.integer({ min: 20, max: 80 }).map((d) => JSON.parse("[".repeat(d) + "1" + "]".repeat(d)) as unknown);
  const replacement = fc.oneof({ weight: 4, arbitrary: wrongType }, { weight: 1, arbitrary: huge }, { weight: 1, arbitrary: deep }, { weight: 1, arbitrary: fc.constant(undefined) });
  return fc.tuple(valid, fc.nat(), replacement, fc.oneof(nastyString, fc.constantFrom("__proto__", "constructor", "passwrd", "tenant_id"))).map(([value, pick, repl, extraKey]) => {
    const paths = pathsOf(value);
    if (!paths.length) return repl === undefined ? {} : repl;
    const path = paths[pick % paths.length]!;
    const copy = structuredClone(value) as Record<string, unknown>;
    if (!path.length) return repl;
    const parent = path.slice(0, -1).reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], copy) as Record<string, unknown>;
    const key = path[path.length - 1]!;
    if (pick % 5 === 0 && typeof parent === "object" && parent && !Array.isArray(parent)) {
      Object.defineProperty(parent, extraKey, { value: repl ?? "extra", enumerable: true, configurable: true, writable: true }); // an extra (or __proto__) own field
    } else if (repl === undefined) {
      if (Array.isArray(parent)) parent.splice(Number(key), 1); else delete parent[key];
    } else parent[key] = repl;
    return copy;
  });
}

/** Paths to every node of a JSON value (the root is []). */
function pathsOf(value: unknown, prefix: string[] = [], out: string[][] = []): string[][] {
  out.push(prefix);
  if (value && typeof value === "object") for (const [k, v] of Object.entries(value)) pathsOf(v, [...prefix, k], out);
  return out;
}
