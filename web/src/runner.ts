import { useCallback, useRef, useState } from "react";
import { api, ApiError, send } from "./api.ts";
import { uuid } from "./uuid.ts";
import type { QueryBody, QueryResult } from "./types.ts";

export interface RunState {
  running: boolean;
  result: QueryResult | null;
  error: string;
  /** What produced the result (for exports of the same query). */
  body: QueryBody | null;
}

/**
 * Runs queries of one source. Each run carries a client-chosen `query_id`, so Cancel can ask the
 * server to stop it (POST /queries/{id}/cancel); the request is aborted too, which the server
 * treats as a cancel where the cancel endpoint does not exist.
 */
export function useQueryRunner(sourceId: string) {
  const [state, setState] = useState<RunState>({ running: false, result: null, error: "", body: null });
  const current = useRef<{ id: string; abort: AbortController } | null>(null);

  const run = useCallback(async (body: QueryBody) => {
    current.current?.abort.abort();
    const id = uuid();
    const abort = new AbortController();
    current.current = { id, abort };
    setState((s) => ({ ...s, running: true, error: "", body }));
    try {
      const result = await api<QueryResult>(`/api/data/sources/${encodeURIComponent(sourceId)}/query`, {
        method: "POST", json: { ...body, query_id: id }, signal: abort.signal,
      });
      if (current.current?.id === id) setState({ running: false, result, error: "", body });
    } catch (e) {
      if (current.current?.id !== id) return;
      const cancelled = (e as Error).name === "AbortError" || (e instanceof ApiError && e.code === "CANCELLED");
      setState({ running: false, result: null, body, error: cancelled ? "Query cancelled." : (e as Error).message });
    } finally {
      if (current.current?.id === id) current.current = null;
    }
  }, [sourceId]);

  const cancel = useCallback(async () => {
    const q = current.current;
    if (!q) return;
    await send(`/api/data/queries/${encodeURIComponent(q.id)}/cancel`, { method: "POST" }).catch(() => undefined);
    q.abort.abort();
  }, []);

  return { state, run, cancel };
}
