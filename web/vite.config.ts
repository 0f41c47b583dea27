import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

/** The console: static files in dist/web (scripts/build-web.mjs), served by the gateway at `/`. */
export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    target: "es2022",
    sourcemap: false,
    // Everything as files: the gateway's CSP allows no inline script, and a polyfill would be inlined.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    reportCompressedSize: false,
  },
  // See src/bson-stub.ts: the SQL preview never needs MongoDB's bson.
  resolve: { alias: { bson: fileURLToPath(new URL("./src/bson-stub.ts", import.meta.url)) } },
  // `npm run dev -w @dsb/web` against a gateway on :8080 (npm start).
  server: { proxy: { "/api": "http://127.0.0.1:8080", "/console/config": "http://127.0.0.1:8080" } },
});
