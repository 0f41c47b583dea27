/**
 * A bounded memo of a pure function of a string: hot requests repeat the same computation
 * with the same input (a cache key's hash, a query body's validation). Cleared when full
 * rather than kept in LRU order: a memo, not a store. A call that throws is not remembered.
 */
export function memo<T>(max: number, fn: (s: string) => T): (s: string) => T {
  const seen = new Map<string, T>();
  return (s) => {
    let v = seen.get(s);
    if (v === undefined) {
      v = fn(s);
      if (seen.size >= max) seen.clear();
      seen.set(s, v);
    }
    return v;
  };
}

/** `value` and everything in it made read-only, so one memoised value can be shared by every request. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
