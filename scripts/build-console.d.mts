/** Types of build-console.mjs, for vitest.config.ts. */
export const ASSETS_DIR: string;
/** Builds the console's static assets into `outdir` (default: ASSETS_DIR, wrangler.toml's [assets] directory). */
export function buildConsole(options?: { outdir?: string }): Promise<{ outdir: string; files: Record<string, string | Uint8Array> }>;
