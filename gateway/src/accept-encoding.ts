/**
 * Whether a request's `Accept-Encoding` takes gzip: listed (or `*`) and not refused with `q=0`.
 */
export function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  let star = false;
  for (const part of header.split(",")) {
    const [name = "", ...params] = part.split(";").map((s) => s.trim().toLowerCase());
    const refused = params.some((p) => /^q\s*=\s*0(\.0*)?$/.test(p));
    if (name === "gzip" || name === "x-gzip") return !refused;
    if (name === "*") star = !refused;
  }
  return star;
}
