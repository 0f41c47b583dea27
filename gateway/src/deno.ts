import { withChunkAlignedBody } from "./deno-body.ts";
import { createEdgeGateway, stringVars } from "./edge.ts";

/** The part of Deno's global the entry uses (the project type-checks without Deno's types). */
declare const Deno: {
  env: { toObject(): Record<string, string> };
  serve(opts: { port: number; hostname: string; onListen?(addr: { port: number }): void }, handler: (req: Request) => Promise<Response>): { finished: Promise<void>; shutdown(): Promise<void> };
  addSignalListener(signal: "SIGTERM" | "SIGINT", f: () => void): void;
  exit(code: number): never;
};

/**
 * The gateway on Deno: Deno.serve with the app's fetch handler; variables from Deno.env (--allow-env).
 * Chunked request bodies are read chunk-aligned, or Deno's HTTP/1.1 server buffers a fast upload (deno-body.ts).
 */
const vars = stringVars(Deno.env.toObject());
const gateway = await createEdgeGateway(vars, "deno");
const server = Deno.serve({
  port: Number(vars.PORT ?? 8080), hostname: vars.HOST ?? "0.0.0.0",
  onListen: ({ port }) => console.log(JSON.stringify({ level: 30, time: Date.now(), service: "gateway", port, msg: `✅ gateway listening on http://localhost:${port}` })),
}, (req) => gateway.fetch(withChunkAlignedBody(req)));
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.addSignalListener(signal, () => void server.shutdown().then(() => gateway.close()).finally(() => Deno.exit(0)));
}
