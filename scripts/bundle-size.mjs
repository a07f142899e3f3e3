import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { wranglerEnv } from "./local-env.mjs";

/** Builds the worker with `wrangler deploy --dry-run --outdir` and measures its scripts. */
export function bundleSize(outdir) {
  rmSync(outdir, { recursive: true, force: true });
  execFileSync("wrangler", ["deploy", "--dry-run", "--outdir", outdir], { stdio: "ignore", env: wranglerEnv });
  let raw = 0;
  let gz = 0;
  for (const file of readdirSync(outdir)) {
    if (!/\.(m?js|wasm)$/.test(file)) continue;
    const bytes = readFileSync(join(outdir, file));
    raw += bytes.length;
    gz += gzipSync(bytes, { level: 6 }).length;
  }
  return { raw, gz };
}
