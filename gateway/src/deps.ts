import type { Context } from "hono";
import type { Bus } from "@dsb/bus";
import type { Actor, DataSource } from "@dsb/contracts";
import type { TokenVerifier } from "./auth.ts";
import type { CacheResult, QueryCache } from "./cache/index.ts";
import type { HistoryDropReason } from "./history.ts";
import type { RunningQueries } from "./running-queries.ts";

export interface GatewayLimits {
  /** Upload cap in bytes (MAX_UPLOAD_BYTES). */
  maxUploadBytes: number;
  /** Largest JSON request body in bytes (MAX_BODY_BYTES). */
  maxBodyBytes: number;
  /** Largest `limit` a JSON query result may have. */
  queryMaxRows: number;
  defaultTimeoutMs: number;
  /** Bus wait on top of a query's own timeout. */
  busTimeoutMs: number;
  /** History entries (and their bytes) kept for retry while the catalog cannot record them (HISTORY_QUEUE_MAX, HISTORY_QUEUE_MAX_BYTES). */
  historyQueueMax?: number;
  historyQueueMaxBytes?: number;
  /** How long a history entry waits for others to share its batch (history.ts; longer in embedded mode). */
  historyBatchWaitMs?: number;
  /** QUERY_CACHE_TTL_S: cache TTL when neither the request nor the source sets one. */
  queryCacheTtlS?: number;
}

/**
 * Everything the gateway app needs, handed in from outside so the app itself
 * uses only Web-standard APIs (Node-only parts live in node.ts).
 */
export interface GatewayDeps {
  bus: Bus;
  verifier: TokenVerifier;
  limits: GatewayLimits;
  /**
   * Streams a multipart upload to storage and registers the source. `body`, when
   * given, is the same request body as a byte stream to read instead of `req.body`.
   */
  upload?: (req: Request, actor: Actor, body?: AsyncIterable<Uint8Array>) => Promise<DataSource>;
  /** Prometheus text for /metrics. */
  metrics?: {
    contentType: string;
    render(): Promise<string>;
    observe(m: { method: string; route: string; status: number; seconds: number }): void;
    /** History entries given up (`ds_history_dropped_total{reason}`) and still waiting to be recorded (`ds_history_queued`). */
    historyDropped?(n: number, reason: HistoryDropReason): void;
    historyQueued?(n: number): void;
    /** A query answered or failed (`ds_queries_total`, `ds_query_duration_seconds`, `ds_query_rows_total`). */
    query?(m: { db_type: string; status: "success" | "error"; seconds: number; rows: number }): void;
    /** How a query met the result cache (`ds_cache_requests_total{result}`). */
    cache?(result: CacheResult): void;
  };
  /** The query result cache (embedded: in memory; distributed: JetStream KV); none: queries are never cached. */
  cache?: QueryCache;
  /** Files of the /docs viewer (served by the gateway, no CDN). */
  docsAsset?: (name: string) => Promise<{ body: BodyInit; type: string } | null>;
  /**
   * Files of the web console (`index.html`, `assets/<hashed name>`); null when
   * there is no such file; `encoding: "gzip"` when it hands the gzipped copy (asked for with
   * `gzip: true`). The Node entry reads them from the build output (dist/web).
   */
  consoleAsset?: (path: string, opts?: { gzip?: boolean }) => Promise<{ body: BodyInit; type: string; encoding?: "gzip" } | null>;
  /**
   * The sample token the console may offer on its sign-in page, or null. Embedded mode with a
   * generated secret only, and only to a browser on the same machine (see docs/console.md).
   */
  consoleSampleToken?: (c: Context<GatewayEnv>) => string | null;
  log?: { info(o: object, m: string): void; warn(o: object, m: string): void; error(o: object, m: string): void; debug?(o: object, m: string): void };
  /** Queries running on this replica (the Node entry shares it with its `gateway.query.cancel` listener); made by the app when absent. */
  queries?: RunningQueries;
}

export type GatewayEnv = {
  /** `queryId`: set by the query route once the query has its id, so an error answer names it too (x-query-id). */
  Variables: { actor: Actor; requestId: string; queryId?: string };
  /**
   * What the server adapter passes along: on Node, the request as a byte stream
   * (@hono/node-server's `incoming`), read with backpressure.
   */
  Bindings: { incoming?: AsyncIterable<Uint8Array> } | undefined;
};
