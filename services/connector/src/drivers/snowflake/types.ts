import { integerValue } from "@dsb/contracts";

/** What the driver reads of a result column (snowflake-sdk's Column). */
export interface SfColumn {
  getName(): string;
  getType(): string;
  getPrecision(): number;
  getScale(): number;
}

/** Snowflake's SQL name for a result column's wire type (`fixed`, `text`, `timestamp_ntz`, ...). */
export function snowflakeTypeName(c: SfColumn): string {
  const t = c.getType().toLowerCase();
  switch (t) {
    case "fixed": return `NUMBER(${c.getPrecision() ?? 38},${c.getScale() ?? 0})`;
    case "real": return "FLOAT";
    case "text": return "VARCHAR";
    default: return t.toUpperCase();
  }
}

const pad = (n: number) => String(n).padStart(2, "0");

/**
 * One value as snowflake-sdk produced it (with fetchAsString: ["Number"]) mapped to
 * API.md's rules: NUMBER(p,0) (integers) is a number within ±(2^53−1) and the
 * exact text beyond, other NUMBERs stay the exact string, FLOAT becomes a number, DATE is
 * YYYY-MM-DD, timestamps ISO-8601 UTC, BINARY base64.
 */
export function snowflakeValue(type: string, v: unknown, scale = -1): unknown {
  if (v === null || v === undefined) return null;
  const t = type.toLowerCase();
  // fetchAsString turns a NULL number into the text "NULL"; no number is spelled that way.
  if ((t === "fixed" || t === "real") && v === "NULL") return null;
  if (t === "fixed" && scale === 0 && typeof v === "string" && /^-?\d+$/.test(v)) return integerValue(v);
  if (t === "real") {
    const n = Number(v);
    return Number.isFinite(n) ? n : String(v);
  }
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) return null;
    if (t === "date") return v.toISOString().slice(0, 10);
    if (t === "time") return `${pad(v.getUTCHours())}:${pad(v.getUTCMinutes())}:${pad(v.getUTCSeconds())}`;
    return v.toISOString();
  }
  if (Buffer.isBuffer(v)) return v.toString("base64");
  if (typeof v === "bigint") return integerValue(v);
  return v;
}
