/**
 * The per-row loops of the fast decoder: spreading present values (in order,
 * or gathered by dictionary index) over the rows of a page. They are small
 * functions on purpose: V8 optimizes them early, even on a process's first file.
 */

export function indexesBelow(idx: Int32Array, count: number, n: number): boolean {
  for (let k = 0; k < count; k++) if ((idx[k]! >>> 0) >= n) return false;
  return true;
}

export function countOnes(defs: Uint8Array, count: number): number {
  let n = 0;
  for (let j = 0; j < count; j++) n += defs[j]!;
  return n;
}

export function validityOf(valid: Uint8Array, at: number, defs: Uint8Array, count: number): void {
  for (let j = 0; j < count; j++) if (defs[j]) { const r = at + j; valid[r >> 3]! |= 1 << (r & 7); }
}

export function put8(o: Int32Array, at: number, count: number, defs: Uint8Array | null, v: Int32Array, idx: Int32Array | null): void {
  if (!defs) {
    if (!idx) { o.set(v.subarray(0, 2 * count), 2 * at); return; }
    for (let j = 0, r = 2 * at; j < count; j++, r += 2) { const s = 2 * idx[j]!; o[r] = v[s]!; o[r + 1] = v[s + 1]!; }
    return;
  }
  for (let j = 0, k = 0; j < count; j++) {
    if (!defs[j]) continue;
    const s = idx ? 2 * idx[k]! : 2 * k;
    k++;
    o[2 * (at + j)] = v[s]!;
    o[2 * (at + j) + 1] = v[s + 1]!;
  }
}

export function put4(o: Int32Array, at: number, count: number, defs: Uint8Array | null, v: Int32Array, idx: Int32Array | null): void {
  if (!defs) {
    if (!idx) { o.set(v.subarray(0, count), at); return; }
    for (let j = 0; j < count; j++) o[at + j] = v[idx[j]!]!;
    return;
  }
  for (let j = 0, k = 0; j < count; j++) {
    if (!defs[j]) continue;
    o[at + j] = v[idx ? idx[k]! : k]!;
    k++;
  }
}

export function putBool(o: Uint8Array, at: number, count: number, defs: Uint8Array | null, v: Uint8Array, idx: Int32Array | null): void {
  for (let j = 0, k = 0; j < count; j++) {
    if (defs && !defs[j]) continue;
    if (v[idx ? idx[k]! : k]) { const r = at + j; o[r >> 3]! |= 1 << (r & 7); }
    k++;
  }
}

/** Copies the strings of rows [at, at + count) to out[pos..], filling offsets; returns the new pos. */
export function putUtf8(out: Uint8Array, pos: number, offs: Int32Array, at: number, count: number, defs: Uint8Array | null,
  src: Uint8Array, starts: Int32Array, lens: Int32Array, idx: Int32Array | null): number {
  for (let j = 0, k = 0; j < count; j++) {
    if (!defs || defs[j]) {
      const s = idx ? idx[k]! : k;
      k++;
      const b = starts[s]!;
      const l = lens[s]!;
      if (l < 24) for (let x = 0; x < l; x++) out[pos + x] = src[b + x]!;
      else out.set(src.subarray(b, b + l), pos);
      pos += l;
    }
    offs[at + j + 1] = pos;
  }
  return pos;
}

/**
 * putUtf8 for dictionary pages whose entries are long enough: four bytes at a time through
 * DataViews (both sides are unaligned byte runs). Per value this beats a `set` call of a view per
 * entry (the bench file's two dictionary string columns: 27-29 → 21-22 and 28-30 → 27-28 ms).
 */
export function putWords(out: Uint8Array, outView: DataView, pos: number, offs: Int32Array, at: number, count: number, defs: Uint8Array | null,
  src: Uint8Array, srcView: DataView, starts: Int32Array, lens: Int32Array, idx: Int32Array): number {
  for (let j = 0, k = 0; j < count; j++) {
    if (!defs || defs[j]) {
      const s = idx[k++]!;
      const b = starts[s]!;
      const l = lens[s]!;
      let x = 0;
      for (; x + 4 <= l; x += 4) outView.setUint32(pos + x, srcView.getUint32(b + x, true), true);
      for (; x < l; x++) out[pos + x] = src[b + x]!;
      pos += l;
    }
    offs[at + j + 1] = pos;
  }
  return pos;
}

