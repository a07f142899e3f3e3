// `npm run size`: gzip size of the deployable bundle, as `wrangler deploy` would upload it.
import { bundleSize } from "./bundle-size.mjs";

const { raw, gz } = bundleSize(".bench/dist");
console.log(`bundle: ${(gz / 1024).toFixed(1)} KiB gzip (${(raw / 1024).toFixed(1)} KiB raw); goal ≤ 200 KiB gzip`);
process.exit(gz <= 200 * 1024 ? 0 : 1);
