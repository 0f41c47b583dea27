/**
 * API.md "Column values": an integer is a JSON number whenever it fits
 * ±(2^53−1), whatever its column type, and its decimal text only beyond.
 * Every driver and the file datasets map 64-bit (and wider) integers here.
 */

const MAX = BigInt(Number.MAX_SAFE_INTEGER);
const MIN = -MAX;

/**
 * An integer as the API shows it: a number when it fits ±(2^53−1), else its
 * decimal text. `v` is the database's text of an integer (no fraction) or a bigint.
 */
export function integerValue(v: string | bigint): number | string {
  if (typeof v === "bigint") return v >= MIN && v <= MAX ? Number(v) : v.toString();
  // Any integer text beyond the bounds rounds to a double of magnitude ≥ 2^53, which is not a safe integer.
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : v;
}
