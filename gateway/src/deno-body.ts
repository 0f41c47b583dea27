/**
 * Reading a chunked request body on Deno without its HTTP/1.1 server piling the upload up.
 *
 * Deno ≥ 2.8.3 serves HTTP/1.1 with its own parser (denoland/deno#34446, `libs/http_h1`). Every
 * read of a request body first reads the socket into the connection's buffer, up to that
 * connection's read size (the largest read any request on it asked for, at least 64 KiB once a
 * body was streamed), and then hands back at most the rest of one `Transfer-Encoding: chunked`
 * chunk; the remainder stays in the buffer, which is shifted (memmove) on every read. A client
 * sending faster than the handler reads therefore leaves up to a read size per chunk behind: a
 * 150 MiB upload in 64 KiB chunks raised the gateway by ~160 MiB and took 34–134 s. Content-Length
 * bodies are not affected (a read takes what the socket gave).
 *
 * Reads that each end exactly where the client's chunks end take from the socket what they hand
 * back. Clients write chunks of one size (their buffer), so after two chunks of the same size every
 * read asks for one whole chunk with its framing (or equal pieces of it), and nothing accumulates.
 * Chunks smaller than 64 KiB or of varying sizes cannot be matched this way (Deno's read size only
 * grows); they are read as before.
 */

/** Deno's own read size for a streamed body; a smaller read would not make the connection's smaller. */
const FLOOR = 64 * 1024;
/** Reads of chunks larger than this are split into equal pieces. */
const MAX_READ = 1024 * 1024;
/**
 * What a read may spend on a chunk's framing (CRLF, hex size, CRLF) besides its data, and the room
 * left on top of it: a read that returns `HEAD` bytes less than it asked for has met a chunk's end.
 */
const HEAD = 24;

/** Raw bytes of a chunk of `size` data bytes with its framing, plus the room for a larger header. */
const framed = (size: number): number => 2 + size.toString(16).length + 2 + size + HEAD;

/** The read size for chunks of `size` data bytes (0: not known yet): one chunk per read, or equal pieces of it. */
function readSize(size: number): number {
  if (size === 0) return FLOOR;
  const raw = framed(size);
  return Math.max(FLOOR, Math.ceil(raw / Math.ceil(raw / MAX_READ)));
}

/**
 * `body` read in pieces that end where the client's chunks end. Reads happen only when the
 * consumer asks (no read-ahead), so a slow consumer stops the socket reads and TCP slows the client.
 * A body that is not a byte stream (Deno hands small, fully received bodies over as bytes) is returned as it is.
 */
export function chunkAlignedBody(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  let reader: ReadableStreamBYOBReader;
  try {
    reader = body.getReader({ mode: "byob" });
  } catch {
    return body;
  }
  /** The client's chunk size once two chunks in a row had it; the last chunk seen; the data read of the current one. */
  let size = 0;
  let last = -1;
  let pos = 0;
  let atStart = true;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const ask = readSize(size);
      const { done, value } = await reader.read(new Uint8Array(ask));
      if (done) { controller.close(); return; }
      const got = value.byteLength;
      pos += got;
      // A read stops short of its size only at a chunk's end; one that starts a chunk also spends its header.
      const ended = got < (atStart ? ask - HEAD : ask);
      atStart = ended;
      if (ended) {
        if (pos === last) size = pos;
        last = pos;
        pos = 0;
      }
      controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
}

/** `req` with a chunked body read by {@link chunkAlignedBody}; a body with Content-Length is read as Deno hands it over. */
export function withChunkAlignedBody(req: Request): Request {
  if (!req.body || req.headers.has("content-length")) return req;
  return new Request(req, { body: chunkAlignedBody(req.body), duplex: "half" } as RequestInit);
}
