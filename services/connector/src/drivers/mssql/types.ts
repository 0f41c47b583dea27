import { integerValue } from "@dsb/contracts";
import type { TdsColumn } from "./tds-client.ts";

/** SQL Server's own name for a result column's type, e.g. BIGINT, DECIMAL(12,2), NVARCHAR(100). */
export function mssqlTypeName(c: TdsColumn): string {
  const len = c.dataLength;
  switch (c.tdsType) {
    case "IntN": return len === 8 ? "BIGINT" : len === 2 ? "SMALLINT" : len === 1 ? "TINYINT" : "INT";
    case "BigInt": return "BIGINT";
    case "Int": return "INT";
    case "SmallInt": return "SMALLINT";
    case "TinyInt": return "TINYINT";
    case "Bit": case "BitN": return "BIT";
    case "Decimal": case "DecimalN": case "Numeric": case "NumericN":
      return `DECIMAL(${c.precision ?? 18},${c.scale ?? 0})`;
    case "Money": case "MoneyN": return len === 4 ? "SMALLMONEY" : "MONEY";
    case "SmallMoney": return "SMALLMONEY";
    case "Float": case "FloatN": return len === 4 ? "REAL" : "FLOAT";
    case "Real": return "REAL";
    case "DateTimeN": return len === 4 ? "SMALLDATETIME" : "DATETIME";
    case "UniqueIdentifier": return "UNIQUEIDENTIFIER";
    case "Variant": return "SQL_VARIANT";
    default: {
      const upper = c.tdsType.toUpperCase();
      // (n)varchar/(n)char/varbinary carry a byte length; 0xFFFF means MAX.
      if (/^(N?VAR)?(CHAR|BINARY)$|^N?CHAR$|^BINARY$/.test(upper) && len !== undefined) {
        if (len === 65535 || len > 8000) return `${upper}(MAX)`;
        return `${upper}(${upper.startsWith("N") ? len / 2 : len})`;
      }
      return upper;
    }
  }
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** Formats a decimal that tedious parsed into a number with the column's scale ("10.50"). */
function decimalString(v: number, scale: number | undefined): string {
  if (scale !== undefined && Number.isFinite(v) && Math.abs(v) < 1e21) return v.toFixed(scale);
  return String(v);
}

/** Maps one value tedious produced to API.md's rules (bigint → number within ±(2^53−1), decimal → string, dates → ISO, binary → base64). */
export function mssqlValue(c: TdsColumn, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  switch (c.tdsType) {
    case "Decimal": case "DecimalN": case "Numeric": case "NumericN":
      return typeof v === "number" ? decimalString(v, c.scale) : String(v);
    case "BigInt": case "IntN":
      // tedious returns BIGINT as its decimal text.
      return typeof v === "string" ? integerValue(v) : normalizeValue(v);
    case "Money": case "MoneyN": case "SmallMoney":
      return typeof v === "number" ? decimalString(v, 4) : String(v);
    case "Date":
      // tedious gives midnight UTC (useUTC); a DATE has no time part.
      return v instanceof Date ? v.toISOString().slice(0, 10) : String(v);
    case "Time":
      return v instanceof Date ? `${pad(v.getUTCHours())}:${pad(v.getUTCMinutes())}:${pad(v.getUTCSeconds())}.${pad(v.getUTCMilliseconds(), 3)}` : String(v);
    default:
      return normalizeValue(v);
  }
}

/** Type-independent part of the mapping, also used for sql_variant. */
export function normalizeValue(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === "bigint") return integerValue(v);
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
  if (Buffer.isBuffer(v)) return v.toString("base64");
  if (v instanceof Uint8Array) return Buffer.from(v).toString("base64");
  if (typeof v === "number" && Number.isInteger(v) && !Number.isSafeInteger(v)) return String(v);
  return v;
}
