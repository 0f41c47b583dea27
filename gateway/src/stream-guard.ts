import type { Logger } from "@dsb/runtime";
import { asAppError } from "./errors.ts";
import { isWholeJsonAnswer } from "./answer.ts";

/** What the guard needs of Node's ServerResponse. */
interface Outgoing { destroy(): unknown }

/**
 * A streamed body (an export) that fails after its first bytes: @hono/node-server
 * would print the raw multi-line stack with console.error and append "Error: …"
 * to the body. Instead the failure is one log line with the request id and the
 * connection is cut without the closing chunk, so the client sees an incomplete
 * transfer. JSON answers pass untouched (reading `body` would cost them
 * node-server's fast path). `passed` hears the bytes of each chunk: the Node entry collects the
 * young generation every few MiB of an export, whose pages arrive in NATS buffers dead once written.
 * `hold` is called when a streamed body starts and its result when the body ends, fails or is
 * cancelled: the Node entry relaxes V8's heap growth meanwhile (`relaxHeapGrowth`).
 */
export function guardStreamedBody(res: Response, outgoing: Outgoing | undefined, log: Logger | undefined, passed?: (bytes: number) => void, hold?: () => () => void): Response {
  if (!outgoing || isWholeJsonAnswer(res) || res.headers.get("content-type")?.startsWith("application/json")) return res;
  const body = res.body;
  if (!body) return res;
  const reader = body.getReader();
  const requestId = res.headers.get("x-request-id") ?? undefined;
  const queryId = res.headers.get("x-query-id") ?? undefined;
  const release = hold?.() ?? (() => {});
  const guarded = new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (e) {
        release();
        const err = asAppError(e);
        if (err.code === "INTERNAL") log?.error({ err: e, requestId, query_id: queryId }, "❌ response stream failed; connection closed");
        else log?.warn({ requestId, query_id: queryId, code: err.code, error: err.message }, "⚠️ response stream failed; connection closed");
        outgoing.destroy();
        ctrl.close();
        return;
      }
      if (r.done) {
        release();
        ctrl.close();
      } else {
        passed?.(r.value.byteLength);
        ctrl.enqueue(r.value);
      }
    },
    cancel: (reason) => {
      release();
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
  return new Response(guarded, { status: res.status, statusText: res.statusText, headers: res.headers });
}
