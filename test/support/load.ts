/** A fetch against the gateway with a test token (RunningSystem.api, Cluster.api). */
export type Api = (path: string, init?: RequestInit & { json?: unknown }) => Promise<Response>;

/** What a query load saw: every status, and the history id of every answered (200) query. */
export interface QueryLoad {
  answered: string[];
  /** Count by HTTP status (0: the request itself failed). */
  statuses: Map<number, number>;
  /** Error codes of the failed answers. */
  codes: Map<string, number>;
  /** Stops the workers and waits for their last requests. */
  stop(): Promise<void>;
}

const bump = <K>(m: Map<K, number>, k: K) => m.set(k, (m.get(k) ?? 0) + 1);

/**
 * `workers` loops each sending `select 1`-style queries to a source, one after another, until
 * stopped: the traffic a fault test runs under. `also` adds another request per round
 * (e.g. a catalog read) whose statuses count too.
 */
export function runQueries(api: Api, sourceId: string, opts: { workers?: number; sql?: string; also?: () => Promise<Response> } = {}): QueryLoad {
  let running = true;
  const load: Omit<QueryLoad, "stop"> = { answered: [], statuses: new Map(), codes: new Map() };
  const observe = async (res: Promise<Response>): Promise<{ query_id?: string } | null> => {
    try {
      const r = await res;
      bump(load.statuses, r.status);
      const body = (await r.json()) as { query_id?: string; code?: string };
      if (r.status !== 200 && body.code) bump(load.codes, body.code);
      return r.status === 200 ? body : null;
    } catch {
      bump(load.statuses, 0);
      return null;
    }
  };
  const worker = async () => {
    while (running) {
      const body = await observe(api(`/api/data/sources/${sourceId}/query`, { method: "POST", json: { sql: opts.sql ?? "select 1 as one" } }));
      if (body?.query_id) load.answered.push(body.query_id);
      if (opts.also) await observe(opts.also());
      // Failures come back at once during an outage: do not spin.
      if (!body) await new Promise((r) => setTimeout(r, 20));
    }
  };
  const workers = Array.from({ length: opts.workers ?? 4 }, worker);
  return {
    ...load,
    stop: async () => {
      running = false;
      await Promise.all(workers);
    },
  };
}

/** Every history id of a source, newest first, across all pages. */
export async function historyIds(api: Api, sourceId: string): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const res = await api(`/api/data/sources/${sourceId}/queries?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    if (res.status !== 200) throw new Error(`history read answered ${res.status}: ${await res.text()}`);
    const body = (await res.json()) as { queries: { id: string }[]; next_cursor: string | null };
    ids.push(...body.queries.map((q) => q.id));
    cursor = body.next_cursor;
  } while (cursor);
  return ids;
}

/**
 * Reads a source's history until every answered query is in it (or `timeoutMs` passes) and
 * says which are missing and which ids show more than once.
 */
export async function historyAgainst(api: Api, sourceId: string, answered: string[], timeoutMs: number): Promise<{ missing: string[]; duplicated: string[] }> {
  let history: string[] = [];
  const missing = () => {
    const seen = new Set(history);
    return answered.filter((id) => !seen.has(id));
  };
  await eventually(async () => {
    history = await historyIds(api, sourceId);
    return missing().length === 0;
  }, timeoutMs, "every answered query in the history").catch(() => undefined);
  return { missing: missing(), duplicated: history.filter((id, i) => history.indexOf(id) !== i) };
}

/** Polls until `check` is true; throws naming `what` after `timeoutMs` (a bound that only proves "no hang"). */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Waits until `n` more queries were answered than now. */
export function answeredMore(load: QueryLoad, n: number, timeoutMs: number): Promise<void> {
  const target = load.answered.length + n;
  const seen = () => `statuses ${JSON.stringify([...load.statuses])}, codes ${JSON.stringify([...load.codes])}`;
  return eventually(() => load.answered.length >= target, timeoutMs, `${n} more answered queries`).catch((e: Error) => {
    throw new Error(`${e.message} (${seen()})`);
  });
}

/** The sum of a Prometheus counter's series in /metrics text. */
export function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split("\n")) if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  return sum;
}
