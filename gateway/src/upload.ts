import { counted, progress, type ProgressLog } from "@dsb/runtime/progress";
import { AppError, SourceNameSchema, type Actor, type DataSource } from "@dsb/contracts";
import type { Bus } from "@dsb/bus";
import type { BlobStore } from "@dsb/storage";

/** Room for boundaries and part headers on top of the file itself when judging Content-Length. */
const MULTIPART_SLACK = 64 * 1024;
const MAX_PART_HEADER_BYTES = 16 * 1024;
const MAX_FIELD_BYTES = 4 * 1024;
/** Parsing 1 GB takes minutes; the bus request must outlive it. */
const PARSE_TIMEOUT_MS = 30 * 60_000;

const enc = new TextEncoder();
const dec = new TextDecoder();
const malformed = (why: string) => new AppError("VALIDATION", `Malformed multipart body (${why}); send multipart/form-data with the file in a field named file`);

/** Node's Buffer when the runtime has one (Node, and Deno in npm mode); edge runtimes search in plain JavaScript. */
const NodeBuffer = (globalThis as { Buffer?: typeof Buffer }).Buffer;

/**
 * Position of `needle` in `hay` from `from`: Buffer's native search on Node (about 5× the
 * plain loop on 64 KiB chunks), else TypedArray.indexOf for the first byte and a compare.
 */
function indexOf(hay: Uint8Array, needle: Uint8Array, from = 0): number {
  if (NodeBuffer) return NodeBuffer.from(hay.buffer, hay.byteOffset, hay.byteLength).indexOf(needle, from);
  const last = hay.length - needle.length;
  for (let i = hay.indexOf(needle[0]!, from); i >= 0 && i <= last; i = hay.indexOf(needle[0]!, i + 1)) {
    let k = 1;
    while (k < needle.length && hay[i + k] === needle[k]) k++;
    if (k === needle.length) return i;
  }
  return -1;
}

const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
};

interface PartHead { name: string; filename: string | null; contentType: string | null }

function parseDisposition(headerText: string): PartHead {
  const headers = new Map<string, string>();
  for (const line of headerText.split("\r\n")) {
    const i = line.indexOf(":");
    if (i > 0) headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  const cd = headers.get("content-disposition");
  if (!cd || !/^form-data\b/i.test(cd)) throw malformed("a part without Content-Disposition: form-data");
  const param = (key: string): string | null => {
    const m = new RegExp(`(?:^|;)\\s*${key}="((?:[^"\\\\]|\\\\.)*)"`, "i").exec(cd) ?? new RegExp(`(?:^|;)\\s*${key}=([^;]*)`, "i").exec(cd);
    // Only \" and \\ are escapes: a Windows path (C:\Users\…) keeps its separators. Browsers send a quote as %22 (HTML's form-data encoding).
    return m ? m[1]!.replace(/\\(["\\])/g, "$1").replace(/%22/g, '"').trim() : null;
  };
  const star = /filename\*=(?:UTF-8|utf-8)''([^;]+)/.exec(cd);
  let filename = param("filename");
  if (star) { try { filename = decodeURIComponent(star[1]!); } catch { /* keep the plain one */ } }
  return { name: param("name") ?? "", filename, contentType: headers.get("content-type") ?? null };
}

/**
 * A minimal streaming multipart/form-data reader over a Web stream: parts are
 * yielded in order, each with a body that streams out as it arrives; only a
 * delimiter's length of bytes is held back. The caller must read or skip a
 * part's body before asking for the next part.
 */
export class MultipartReader {
  private buf: Uint8Array;
  private readonly delimiter: Uint8Array;
  private readonly reader: AsyncIterator<Uint8Array>;
  private readonly stop: () => Promise<unknown>;
  private ended = false;
  private finished = false;

  /** `body`: a Web stream, or a Node request read as it arrives (its unread rest is the server's to drain). */
  constructor(body: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>, boundary: string) {
    if (body instanceof ReadableStream) {
      const reader = body.getReader();
      this.reader = { next: async () => { const r = await reader.read(); return r.done ? { done: true, value: undefined } : r; } };
      this.stop = () => reader.cancel();
    } else {
      this.reader = body[Symbol.asyncIterator]();
      // Not return(): on a Node request that destroys the socket before the error response is written.
      this.stop = async () => {};
    }
    this.delimiter = enc.encode(`\r\n--${boundary}`);
    // A virtual CRLF lets the first boundary (at the very start) match the same delimiter.
    this.buf = enc.encode("\r\n");
  }

  /** The next chunk of the request, or null at its end. */
  private async read(): Promise<Uint8Array | null> {
    if (this.ended) return null;
    const { done, value } = await this.reader.next();
    if (done) { this.ended = true; return null; }
    return value;
  }

  private async fill(): Promise<boolean> {
    const value = await this.read();
    if (value === null) return false;
    this.buf = concat(this.buf, value);
    return true;
  }

  /** Skips to just after the next delimiter; false at the closing `--`. */
  private async nextDelimiter(): Promise<boolean> {
    for (;;) {
      const i = indexOf(this.buf, this.delimiter);
      if (i >= 0) { this.buf = this.buf.subarray(i + this.delimiter.length); break; }
      this.buf = this.buf.subarray(Math.max(0, this.buf.length - this.delimiter.length + 1));
      if (!(await this.fill())) throw malformed("no boundary found");
    }
    while (this.buf.length < 2) if (!(await this.fill())) throw malformed("body ends after a boundary");
    if (this.buf[0] === 0x2d && this.buf[1] === 0x2d) { this.finished = true; return false; }
    return true;
  }

  async *parts(): AsyncGenerator<PartHead & { body: AsyncGenerator<Uint8Array> }> {
    if (!(await this.nextDelimiter())) return;
    for (;;) {
      let end: number;
      while ((end = indexOf(this.buf, enc.encode("\r\n\r\n"))) < 0) {
        if (this.buf.length > MAX_PART_HEADER_BYTES) throw malformed("part headers too large");
        if (!(await this.fill())) throw malformed("body ends inside part headers");
      }
      const head = parseDisposition(dec.decode(this.buf.subarray(0, end)).replace(/^[ \t]*\r\n/, ""));
      this.buf = this.buf.subarray(end + 4);
      let consumed = false;
      const self = this;
      // Chunks are never written to after they arrive, so the body is handed on as views of them, not copies;
      // only the few bytes that may begin a delimiter wait for the next chunk.
      const dl = self.delimiter.length;
      const body = (async function* () {
        for (;;) {
          const i = indexOf(self.buf, self.delimiter);
          if (i >= 0) {
            if (i > 0) yield self.buf.subarray(0, i);
            self.buf = self.buf.subarray(i);
            consumed = true;
            return;
          }
          const safe = self.buf.length - dl + 1;
          if (safe > 0) { yield self.buf.subarray(0, safe); self.buf = self.buf.subarray(safe); }
          const value = await self.read();
          if (value === null) throw malformed("body ends inside a part");
          const tail = self.buf;
          if (tail.length > 0) {
            const k = indexOf(concat(tail, value.subarray(0, dl - 1)), self.delimiter);
            // A delimiter that starts in the held-back bytes: join them with the chunk (once per part).
            if (k >= 0 && k < tail.length) { self.buf = concat(tail, value); continue; }
            yield tail;
          }
          self.buf = value;
        }
      })();
      yield { ...head, body };
      if (!consumed) for await (const _ of body) { /* skip the unread rest of the part */ }
      if (!(await this.nextDelimiter())) return;
    }
  }

  /** Stops reading the request (after an error or an early 413). */
  async cancel(): Promise<void> {
    if (!this.finished) await this.stop().catch(() => {});
  }
}

/**
 * The file's name as the person gave it, for the source's name and its table: the last
 * path segment, NFC, without control characters, at most 200 characters (a source
 * name's limit), the extension kept when it is cut.
 */
export function displayFilename(raw: string): string {
  const base = raw.replace(/\\/g, "/").split("/").pop() ?? "";
  const clean = base.normalize("NFC").replace(/\p{Cc}/gu, "").trim().replace(/^\.+$/, "");
  return cutKeepingExtension(clean, (s) => s.length <= 200) || "upload";
}

/**
 * The file name as the last segment of a storage key: letters, digits and a few marks,
 * at most 200 UTF-8 bytes so a file system's 255-byte name limit holds with `.dataset` added.
 */
export function sanitizeFilename(raw: string): string {
  const clean = displayFilename(raw).replace(/[^\p{L}\p{M}\p{N} ._()+,-]/gu, "_").replace(/^\.+/, "").trim();
  return cutKeepingExtension(clean, (s) => enc.encode(s).byteLength <= 200) || "upload";
}

/** `name` shortened by whole code points before its extension until it fits. */
function cutKeepingExtension(name: string, fits: (s: string) => boolean): string {
  if (fits(name)) return name;
  const ext = /\.[^.]{1,16}$/.exec(name)?.[0] ?? "";
  const stem = [...name.slice(0, name.length - ext.length)];
  while (stem.length > 0 && !fits(stem.join("") + ext)) stem.pop();
  return stem.join("").trim() + ext;
}

async function readField(body: AsyncIterable<Uint8Array>, field: string): Promise<string> {
  let acc: Uint8Array = new Uint8Array(0);
  for await (const c of body) {
    acc = concat(acc, c);
    if (acc.length > MAX_FIELD_BYTES) throw new AppError("VALIDATION", `Field ${field} is longer than ${MAX_FIELD_BYTES} bytes`);
  }
  return dec.decode(acc);
}

/** Best effort: the dataset and the upload go, whoever can reach them. */
async function cleanup(bus: Bus, store: BlobStore, tenantId: string, key: string): Promise<void> {
  try {
    await bus.request("ingestion.discard", { tenant_id: tenantId, key }, { timeoutMs: 30_000 });
    return;
  } catch { /* ingestion unreachable: remove the objects directly */ }
  try {
    for await (const o of store.list(`${key}.dataset/`)) await store.delete(o.key).catch(() => {});
    await store.delete(key);
  } catch { /* nothing more to do; the object is orphaned and logged by the caller */ }
}

/**
 * POST /api/data/upload: streams the multipart `file` field into storage
 * (413 as soon as it passes `maxBytes`), asks ingestion to parse it, and has
 * the catalog store the source. Any failure after the file was stored removes
 * the file and its dataset before the error is rethrown.
 */
export async function handleUpload(req: Request, deps: { bus: Bus; store: BlobStore; actor: Actor; maxBytes: number; body?: AsyncIterable<Uint8Array>; log?: ProgressLog }): Promise<DataSource> {
  const { bus, store, actor, maxBytes } = deps;
  const type = req.headers.get("content-type") ?? "";
  const boundary = /^multipart\/form-data\s*;(?:.*;)?\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(type);
  if (!boundary) throw new AppError("VALIDATION", "Send the upload as multipart/form-data with the file in a field named file");
  const length = Number(req.headers.get("content-length") ?? NaN);
  if (Number.isFinite(length) && length > maxBytes + MULTIPART_SLACK)
    throw new AppError("PAYLOAD_TOO_LARGE", `File is larger than the upload limit of ${maxBytes} bytes (MAX_UPLOAD_BYTES)`, { details: { max_bytes: maxBytes } });
  const body = deps.body ?? req.body;
  if (!body) throw new AppError("VALIDATION", "Send the file in a multipart field named file");

  const mp = new MultipartReader(body, boundary[1] ?? boundary[2]!);
  let stored: { key: string; filename: string; size: number } | null = null;
  let name: string | undefined;
  const parse = (key: string, filename: string, size: number, live?: string) =>
    bus.request("ingestion.parse", { tenant_id: actor.tenant_id, key, filename, size, ...(live ? { live } : {}) }, { timeoutMs: PARSE_TIMEOUT_MS });
  /** The parse of an upload followed while it is stored (a store that allows it): it starts with the put. */
  let parsing: ReturnType<typeof parse> | null = null;
  try {
    for await (const part of mp.parts()) {
      if (part.name === "file" && part.filename !== null && !stored) {
        // The key holds a safe copy of the name; the source and its table keep the name as given.
        const key = `${actor.tenant_id}/${crypto.randomUUID()}/${sanitizeFilename(part.filename)}`;
        const filename = displayFilename(part.filename);
        const uploading = progress(deps.log, "upload", { tenant: actor.tenant_id, user: actor.user_id });
        const live = store.liveId?.();
        const putting = store.put(key, counted(part.body, uploading), { maxBytes, live });
        if (live) {
          parsing = parse(key, filename, 0, live);
          // Settled here if the put fails first (the parse then fails too, told by the store).
          parsing.catch(() => {});
        }
        const { size } = await putting;
        stored = { key, filename, size };
      } else if (part.name === "name" && part.filename === null) {
        name = (await readField(part.body, "name")).trim() || undefined;
        const valid = name === undefined ? null : SourceNameSchema.safeParse(name);
        if (valid && !valid.success) throw new AppError("VALIDATION", `Field name: ${valid.error.issues[0]?.message ?? "not a valid name"}`);
      }
    }
    if (!stored) throw new AppError("VALIDATION", "Send the file in a multipart field named file");
    const parsed = await (parsing ?? parse(stored.key, stored.filename, stored.size));
    const { source } = await bus.request("catalog.source.create", {
      actor,
      source: { name: name ?? stored.filename, type: "file", format: parsed.format, file_path: stored.key, schema: parsed.schema },
    });
    return source;
  } catch (e) {
    await mp.cancel();
    if (stored) await cleanup(bus, store, actor.tenant_id, stored.key);
    if (e instanceof AppError) throw e;
    throw new AppError("INTERNAL", "Upload failed", { cause: e });
  }
}
