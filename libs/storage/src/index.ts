export * from "./blob-store.ts";
export * from "./fs.ts";
export * from "./object-store.ts";
export * from "./open.ts";
