// `npm run build:console`, and wrangler's [build] command (so `wrangler dev`,
// `wrangler deploy` and `--dry-run` run it), and vitest.config.ts (the Workers
// test pool does not run [build]): builds the console's static assets into
// dist/assets, the [assets] directory of wrangler.toml.
//
//   console.html       the page, rendered from src/console/page.ts
//   console/app.js     src/console/app/main.ts and its modules, bundled for the browser
//   console/app.css    src/console/app/console.css
//   _headers           src/console/_headers: the CSP and the other page headers
//
// The bundle may contain the console's own modules and Hono's client only: the
// server's code reaches the console as types (AppType), never as code, and
// the build fails if anything else gets in.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

// (import.meta.url rather than import.meta.dirname: vitest.config.ts imports this file, and Vite rewrites only the former.)
const root = fileURLToPath(new URL("..", import.meta.url));
export const ASSETS_DIR = join(root, "dist/assets");

/** What app.js may be made of (paths relative to the repository). */
const ALLOWED_INPUTS = [/^src\/console\/app\/[\w-]+\.ts$/, /(^|\/)node_modules\/hono\/dist\/(client|utils)\//];

export async function buildConsole({ outdir = ASSETS_DIR } = {}) {
  const script = await build({
    entryPoints: [join(root, "src/console/app/main.ts")],
    bundle: true,
    format: "iife",
    target: "es2022",
    platform: "browser",
    // Readable on purpose: what runs on the admin page can be read as served.
    // It is small (Cloudflare compresses it), and the worker bundle is not affected.
    minify: false,
    legalComments: "none",
    metafile: true,
    write: false,
    logLevel: "error",
  });
  const strays = Object.keys(script.metafile.inputs).filter((input) => !ALLOWED_INPUTS.some((allowed) => allowed.test(input)));
  if (strays.length) {
    throw new Error(`console/app.js would bundle code it must not (import types only from the server):\n  ${strays.join("\n  ")}`);
  }

  const style = await build({
    entryPoints: [join(root, "src/console/app/console.css")],
    bundle: true,
    minify: true,
    write: false,
    logLevel: "error",
  });

  // The page is rendered here, once, from the same scope table the API validates with.
  const page = await build({
    entryPoints: [join(root, "src/console/page.ts")],
    bundle: true,
    format: "esm",
    platform: "node",
    write: false,
    logLevel: "error",
  });
  const { renderConsolePage } = await import(`data:text/javascript;base64,${Buffer.from(page.outputFiles[0].contents).toString("base64")}`);

  const files = {
    "console.html": renderConsolePage(),
    "console/app.js": script.outputFiles[0].contents,
    "console/app.css": style.outputFiles[0].contents,
    _headers: readFileSync(join(root, "src/console/_headers")),
  };
  for (const [name, contents] of Object.entries(files)) writeIfChanged(join(outdir, name), contents);
  return { outdir, files };
}

/**
 * Leaves unchanged files alone and replaces changed ones in one step (write,
 * then rename), because `wrangler dev` and the test pool may be serving this
 * directory while it is rebuilt: a reader never sees a half-written file.
 */
function writeIfChanged(file, contents) {
  const bytes =
    typeof contents === "string" ? Buffer.from(contents) : Buffer.from(contents.buffer, contents.byteOffset, contents.byteLength);
  try {
    if (readFileSync(file).equals(bytes)) return;
  } catch {
    // not there yet
  }
  mkdirSync(dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, bytes);
  renameSync(temporary, file);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const { outdir, files } = await buildConsole();
    console.log(`console built: ${Object.keys(files).join(", ")} in ${relative(root, outdir)}/`);
  } catch (error) {
    console.error(error.message);
    process.exit(1);
  }
}
