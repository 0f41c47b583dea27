// The console bundles the connector's query_config compiler for its SQL preview, and that module
// also holds the MongoDB translation, which imports bson. The console never previews MongoDB (no
// SQL there), and bson probes WebAssembly when it loads, which the console's CSP reports as a
// violation; vite.config.ts points `bson` here instead. Anything that does reach it says why.
const unavailable = (): never => {
  throw new Error("MongoDB pipelines are not compiled in the console; run the query instead");
};
export class ObjectId { constructor(..._: unknown[]) { unavailable(); } }
export class Decimal128 { static fromString(_: string): never { return unavailable(); } }
export class Long { static fromString(_: string): never { return unavailable(); } }
export const EJSON = { stringify: unavailable, parse: unavailable };
