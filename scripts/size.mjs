// `npm run size`: gzip size of the deployable worker bundle, as `wrangler deploy`
// would upload it, and, listed apart, the console's static assets (served by
// Cloudflare without running the worker, so they cost the worker nothing).
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { gzipSync } from "node:zlib";
import { bundleSize } from "./bundle-size.mjs";

const { raw, gz } = bundleSize(".bench/dist");
console.log(`bundle: ${(gz / 1024).toFixed(1)} KiB gzip (${(raw / 1024).toFixed(1)} KiB raw); goal ≤ 200 KiB gzip`);

const assets = "dist/assets"; // wrangler.toml [assets] directory, built by the deploy dry-run's [build] step
const files = (dir) => readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : [join(dir, f)]));
try {
  for (const file of files(assets)) {
    const bytes = readFileSync(file);
    console.log(
      `asset:  ${relative(assets, file)}: ${(gzipSync(bytes).length / 1024).toFixed(1)} KiB gzip (${(bytes.length / 1024).toFixed(1)} KiB raw)`,
    );
  }
} catch {
  console.log("asset:  (none built)");
}
process.exit(gz <= 200 * 1024 ? 0 : 1);
