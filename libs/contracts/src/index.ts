export * from "./errors.ts";
export * from "./database.ts";
export * from "./login-warning.ts";
export * from "./schema.ts";
export * from "./source.ts";
export * from "./query.ts";
export * from "./health.ts";
export * from "./subjects.ts";
