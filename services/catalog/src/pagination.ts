import { AppError } from "@dsb/contracts";

/** Position after the last item of a page: newest-first order is (created_at desc, id desc). */
export interface Position { created_at: string; id: string }

const ISO_US = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/;

/** Opaque to clients: base64url of the position. */
export const encodeCursor = (p: Position) => Buffer.from(JSON.stringify([p.created_at, p.id])).toString("base64url");

export function decodeCursor(cursor: string): Position {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === "string" && ISO_US.test(v[0]) && typeof v[1] === "string")
      return { created_at: v[0], id: v[1] };
  } catch {
    // fall through to the error below
  }
  throw new AppError("VALIDATION", "The cursor is not valid; repeat the request without cursor to start from the first page");
}

/**
 * Cuts a page (fetched with one extra row) to `limit` items and to what fits
 * in one bus message, and says where the next page starts.
 */
export function cutPage<T extends Position>(rows: T[], limit: number, maxBytes: number, size: (row: T) => number) {
  let bytes = 0;
  let n = 0;
  for (; n < Math.min(rows.length, limit); n++) {
    bytes += size(rows[n]!);
    // Always send at least one item, so a page never stalls.
    if (bytes > maxBytes && n > 0) break;
  }
  const page = rows.slice(0, n);
  const last = page[page.length - 1];
  return { page, next_cursor: rows.length > n && last ? encodeCursor(last) : null };
}
