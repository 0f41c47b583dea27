import type { ConnectionConfiguration } from "tedious";
import type { TdsClient, TdsColumn, TdsConnect, TdsHandlers, TdsParam, TdsRequest } from "../../../services/connector/src/drivers/mssql/tds-client.ts";

/** What a scripted request answers: a result set, an error, or "hang" (runs until cancelled). */
export type FakeReply = { columns: TdsColumn[]; rows: unknown[][] } | { error: { code: string; number?: number; message: string } } | "hang" | "empty";

export interface FakeLogEntry { client: number; sql: string; params: readonly TdsParam[] }

/**
 * A typed fake of the TdsClient seam for tests: scripted replies by SQL, a log of every
 * request, cancel/pause/resume behaving like tedious (ECANCEL after ATTENTION, rows held while paused).
 */
export class FakeTds {
  readonly log: FakeLogEntry[] = [];
  readonly configs: ConnectionConfiguration[] = [];
  opened = 0;
  closed = 0;
  /** Connections reset (sp_reset_connection) before going back to the pool. */
  resets = 0;
  cancels = 0;
  pauses = 0;
  connectError: { code: string; message: string } | null = null;

  constructor(private readonly reply: (sql: string, params: readonly TdsParam[]) => FakeReply) {}

  readonly connect: TdsConnect = async (config) => {
    this.configs.push(config);
    await Promise.resolve();
    if (this.connectError) throw Object.assign(new Error(this.connectError.message), { code: this.connectError.code });
    const id = ++this.opened;
    return this.client(id);
  };

  private client(id: number): TdsClient {
    let healthy = true;
    let running: { cancel: () => void } | null = null;
    const fake = this;
    return {
      get healthy() { return healthy; },
      request(sql: string, params: readonly TdsParam[], h: TdsHandlers): TdsRequest {
        if (running) throw new Error("fake: request while another is running (tedious would refuse)");
        fake.log.push({ client: id, sql, params });
        const r = fake.reply(sql, params);
        let paused = false;
        let resumeWait: (() => void) | null = null;
        let cancelled = false;
        let settle!: { res: () => void; rej: (e: unknown) => void };
        const done = new Promise<void>((res, rej) => { settle = { res, rej }; });
        const finish = (err?: unknown) => { running = null; if (err) settle.rej(err); else settle.res(); };
        const ecancel = () => Object.assign(new Error("Canceled."), { code: "ECANCEL" });
        running = { cancel: () => { cancelled = true; paused = false; resumeWait?.(); } };
        void (async () => {
          await new Promise((r) => setImmediate(r));
          if (r === "hang") {
            if (!cancelled) await new Promise<void>((res) => { running = { cancel: () => { cancelled = true; res(); } }; });
            return finish(ecancel());
          }
          if (r === "empty") return finish();
          if ("error" in r) return finish(Object.assign(new Error(r.error.message), r.error));
          h.columns(r.columns);
          for (const row of r.rows) {
            if (cancelled) return finish(ecancel());
            while (paused && !cancelled) await new Promise<void>((res) => { resumeWait = res; });
            if (cancelled) return finish(ecancel());
            h.row(row);
            await Promise.resolve();
          }
          finish();
        })();
        return {
          done,
          pause: () => { paused = true; fake.pauses++; },
          resume: () => { paused = false; const w = resumeWait; resumeWait = null; w?.(); },
        };
      },
      cancel() { fake.cancels++; running?.cancel(); },
      async reset() { fake.resets++; },
      async close() { if (healthy) fake.closed++; healthy = false; },
    };
  }
}

export const col = (name: string, tdsType: string, extra: Partial<TdsColumn> = {}): TdsColumn => ({ name, tdsType, ...extra });
