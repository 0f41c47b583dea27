import { sha256js } from "./sha256.ts";

/**
 * Stands in for the js-sha256 package in edge bundles (scripts/build.mjs aliases it):
 * @nats-io/obj loads js-sha256, whose start-up takes a runtime with `process.versions.node`
 * (Deno) for Node and `require`s node:crypto, which an ES module bundle cannot. Only what
 * @nats-io/obj calls is provided; the gateway's uploads hash with sha256js directly.
 */
export const sha256 = {
  create() {
    const h = sha256js();
    const api = {
      update(data: Uint8Array) { h.update(data); return api; },
      digest: () => Array.from(h.digest()),
    };
    return api;
  },
};
