// `npm run lint:openapi` (part of `npm test`): builds the OpenAPI document from
// the app's own zod schemas, writes it to a temporary file and lints it with
// @redocly/cli. Any error fails; warnings are printed.
//
// The app is bundled for Node with esbuild (wrangler's own bundler); the one
// Workers-only import, `cloudflare:workers` (the Durable Object base class), is
// replaced by a stub because building the document never touches it.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";

const root = resolve(import.meta.dirname, "..");
const dir = mkdtempSync(join(tmpdir(), "owlish-openapi-"));
try {
  const bundle = join(dir, "app.mjs");
  await build({
    // The app built with inert parts: building the document reads no storage.
    stdin: {
      contents: `
        import { createApp } from "./src/app";
        import { parseOptions } from "./src/options";
        const inert = { find: async () => null, remember() {}, publish: async () => {}, report() {}, unsent: () => ({}), take: () => { throw new Error("no key is verified while building the document"); } };
        export async function openApiDocument() {
          const app = createApp({ options: parseOptions({ LOG_SUCCESSES: "false", SESSION_SECRET: "openapi-lint-needs-no-real-secret-0123456789", WEBHOOK_SECRET_KEYS: "lint:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" }), services: { keys: inert, usage: inert, limiter: inert } });
          return (await app.request("/openapi.json")).json();
        }`,
      resolveDir: root,
      loader: "ts",
    },
    bundle: true,
    platform: "node",
    format: "esm",
    outfile: bundle,
    logLevel: "error",
    plugins: [
      {
        name: "workers-stub",
        setup(b) {
          b.onResolve({ filter: /^cloudflare:/ }, (args) => ({ path: args.path, namespace: "stub" }));
          b.onLoad({ filter: /.*/, namespace: "stub" }, () => ({
            contents: "export class DurableObject { constructor(ctx, env) { this.ctx = ctx; this.env = env; } }\nexport const env = {};",
            loader: "js",
          }));
        },
      },
    ],
  });
  const { openApiDocument } = await import(pathToFileURL(bundle).href);
  // `--out FILE` keeps a copy of the document (for reading it, or other tools).
  const out = process.argv.indexOf("--out");
  const file = out === -1 ? join(dir, "openapi.json") : process.argv[out + 1];
  writeFileSync(file, JSON.stringify(await openApiDocument(), null, 2));
  const args = ["lint", file, "--format=stylish"];
  // redocly exits non-zero when the document has errors; warnings alone pass.
  execFileSync(process.execPath, [join(root, "node_modules/@redocly/cli/bin/cli.js"), ...args, "--config", join(root, "redocly.yaml")], {
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
  });
} catch (error) {
  console.error(`OpenAPI lint failed: ${error.message?.split("\n")[0] ?? error}`);
  process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
