/**
 * The /docs viewer's files for edge bundles, which have no node_modules to read them from.
 * Empty in source; scripts/build.mjs fills it with swagger-ui-dist's files when it bundles
 * the workerd and Deno entries.
 */
export const DOCS_ASSETS: Record<string, { body: string; type: string }> = {};
