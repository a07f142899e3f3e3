// `npm run startup:profile`: where does the worker's startup CPU go?
//
// Summarises V8 CPU profiles of the startup phase (the evaluation of the
// bundle's top level, as `wrangler check startup` records it) by self and
// inclusive time per source module or package, and per function, mapping the
// minified bundle back to source files through its source map.
//
//   node scripts/startup-profile.mjs [profile.cpuprofile…] [--bundle worker.bundle]
//       Reads the profiles `npm run startup` kept (.startup/run-*.cpuprofile,
//       1 ms sampling, ~30 samples a run) together with the bundle they ran.
//   node scripts/startup-profile.mjs --sample [--runs 20] [--interval 1000]
//       Profiles .startup/worker.bundle again in workerd at a finer sampling
//       interval (µs): the same code, more samples, a little profiler overhead.
//   node scripts/startup-profile.mjs --modules [--runs 20] [--interval 1000] [--entry src/other.ts]
//       Rebuilds with every module (each src/ file, each file of each package)
//       as an ES module of its own (esbuild code splitting), so that each
//       module's top level runs as a function of its own and gets the
//       inclusive time of what it calls: "src/routes/api-keys/schemas.ts (top level)"
//       holds the zod and OpenAPI calls that file makes when it is evaluated.
//       In the deployable bundle all top levels are merged into one, which a
//       profile cannot split by file. (Caveats: more modules to instantiate;
//       the first module to call into zod also pays for compiling zod's
//       functions; exports the real bundle tree-shakes stay in.)
//   node scripts/startup-profile.mjs --cpu [a.bundle b.bundle…] [--runs 9]
//       Startup CPU time of each bundle (`wrangler deploy --dry-run
//       --outfile`), runs interleaved: workerd's thread CPU time (Linux
//       schedstat) for importing the main module, which other processes on
//       shared cores do not inflate, unlike the profiler's wall-clock "active".
// Options: --files (group node_modules by file, not package), --top N (25),
// --json (print the report as JSON).
//
// Conventions: as in wrangler's summary, a sample is charged the time since
// the previous sample. When the sampler saw nothing for more than 3 intervals
// the excess is not charged to whichever function happened to be sampled
// next: before the first JS sample it is "(before 1st sample: parse/compile)"
// (the bundle being compiled), later "(unsampled gaps later on)" (lazy
// compilation, or another process holding the CPU). Native frames (url "")
// are charged to the nearest JS caller's module. Times are per run (mean).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { SourceMap } from "node:module";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { wranglerEnv } from "./local-env.mjs";

export const WORK = ".startup";
export const BUNDLE = join(WORK, "worker.bundle");

const SPECIAL = new Set(["(root)", "(program)", "(idle)", "(garbage collector)"]);
// The sampler saw nothing for much longer than one interval: before the first
// JS sample that is the bundle being parsed and compiled; later on, lazy
// compilation of a big function, or the CPU taken by another process.
const FIRST_GAP = "(before 1st sample: parse/compile)";
const GAP = "(unsampled gaps later on)";

/** Builds the worker exactly as `wrangler check startup` does (`deploy --dry-run --outfile`). */
export function buildWorkerBundle(out = BUNDLE, extraArgs = []) {
  mkdirSync(dirname(out), { recursive: true });
  rmSync(out, { force: true });
  execFileSync("wrangler", ["deploy", "--dry-run", `--outfile=${out}`, ...extraArgs], {
    stdio: ["ignore", "ignore", "inherit"],
    env: wranglerEnv,
  });
  return out;
}

/** The parts of a `wrangler deploy --outfile` bundle (multipart form): name → { type, text }. */
export async function readWorkerBundle(path = BUNDLE) {
  const bytes = readFileSync(path);
  const boundary = bytes.subarray(2, bytes.indexOf(10)).toString().trim();
  const form = await new Response(bytes, { headers: { "Content-Type": `multipart/form-data; boundary=${boundary}` } }).formData();
  const parts = new Map();
  for (const [name, value] of form)
    parts.set(name, typeof value === "string" ? { type: "text/plain", text: value } : { type: value.type, text: await value.text() });
  return parts;
}

/** "node_modules/zod/v4/core/schemas.js" → "zod"; "src/routes/api-keys/roll.ts" stays itself. */
export function normaliseSource(source) {
  const s = source.replaceAll("\\", "/");
  const nm = s.lastIndexOf("node_modules/");
  if (nm >= 0) return s.slice(nm);
  const src = s.search(/(^|\/)src\//);
  if (src >= 0) return s.slice(src === 0 && s.startsWith("src/") ? 0 : src + 1);
  return s.replace(/^(\.\.\/)+/, "");
}

export function packageOf(file) {
  const m = file.match(/^node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (!m) return file;
  // drizzle-orm's own source maps point at ../src/*.ts, outside its folder.
  if (m[1] === "src") return "drizzle-orm";
  return m[1];
}

/** The script a profile url names: workerd reports paths relative to modulesRoot, with or without a prefix. */
function scriptFor(scripts, url) {
  if (!url) return undefined;
  const parts = url.replace(/^file:\/\//, "").split("/");
  for (let i = 0; i < parts.length; i++) {
    const hit = scripts.get(parts.slice(i).join("/"));
    if (hit) return hit;
  }
  return undefined;
}

/**
 * Maps a call frame to { group, label, top? }. `scripts` maps a module path to
 * { map: SourceMap | null, lines, topLevel: label of its top-level code, topLevelFile? }.
 */
function makeResolver(scripts, { files }) {
  const cache = new Map();
  const groupOf = (file) => (files || !file.startsWith("node_modules/") ? file : packageOf(file));
  return (frame) => {
    const key = `${frame.url}:${frame.lineNumber}:${frame.columnNumber}:${frame.functionName}`;
    let hit = cache.get(key);
    if (hit) return hit;
    const script = scriptFor(scripts, frame.url);
    if (!frame.url) {
      hit = SPECIAL.has(frame.functionName)
        ? { group: frame.functionName, label: frame.functionName }
        : { native: true, label: `${frame.functionName || "(anonymous)"} (native)` };
    } else if (!script) {
      hit =
        frame.url.includes("__startup_entry") || /[0-9a-f]{8}-[0-9a-f]{4}-/.test(frame.url)
          ? { group: "(profiler entry)", label: "(profiler entry)" }
          : { group: frame.url, label: `${frame.functionName || "(anonymous)"} ${frame.url}:${frame.lineNumber + 1}` };
    } else if (frame.lineNumber < 0 || (frame.lineNumber === 0 && frame.columnNumber === 0 && !frame.functionName)) {
      // --modules: a module's top level belongs to its file/package, and is
      // also listed on its own as a function ("… (top level)").
      hit = { group: script.topLevelFile ? groupOf(script.topLevelFile) : script.topLevel, label: script.topLevel, top: true };
    } else {
      const entry = script.map?.findEntry(frame.lineNumber, frame.columnNumber);
      if (entry?.originalSource) {
        const file = normaliseSource(entry.originalSource);
        hit = { group: groupOf(file), label: `${frame.functionName || entry.name || "(anonymous)"} ${file}:${entry.originalLine + 1}` };
      } else {
        // No mapping: the bundler's own helpers (keepNames' __name, __export
        // of namespace objects, …); the code itself says which.
        const line = script.lines?.[frame.lineNumber] ?? "";
        const snippet = line.slice(Math.max(0, frame.columnNumber - 12), frame.columnNumber + 48).replace(/\s+/g, " ");
        hit = {
          group: script.unmapped ?? "(unmapped)",
          label: `${frame.functionName || "(anonymous)"} ${basename(frame.url)}:${frame.lineNumber + 1}:${frame.columnNumber + 1} «${snippet}»`,
        };
      }
    }
    cache.set(key, hit);
    return hit;
  };
}

/** wrangler's summary of one profile (µs): sampled, idle, GC, active. */
export function summarise(profile) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  let sampled = 0,
    idle = 0,
    gc = 0;
  profile.timeDeltas.forEach((d, i) => {
    sampled += d;
    const name = nodes.get(profile.samples[i])?.callFrame.functionName;
    if (name === "(idle)") idle += d;
    else if (name === "(garbage collector)") gc += d;
  });
  return { sampled, idle, gc, active: sampled - idle, samples: profile.samples.length };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Aggregates profiles into per-group and per-function self/inclusive times (ms per run). */
export function analyse(profiles, scripts, { files = false } = {}) {
  const resolveFrame = makeResolver(scripts, { files });
  const groups = new Map();
  const functions = new Map();
  const topGroups = new Map();
  const topFiles = new Map();
  const bump = (map, key, field, us) => {
    let row = map.get(key);
    if (!row) map.set(key, (row = { name: key, self: 0, incl: 0 }));
    row[field] += us;
  };
  let active = 0,
    gc = 0,
    gap = 0,
    firstGap = 0,
    samples = 0;
  const actives = [];
  for (const profile of profiles) {
    const s = summarise(profile);
    actives.push(s.active / 1000);
    active += s.active;
    gc += s.gc;
    samples += s.samples;
    const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
    const parent = new Map();
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    // Effective frame of each node: natives are charged to their JS caller.
    const info = new Map();
    const infoOf = (id) => {
      if (info.has(id)) return info.get(id);
      const r = resolveFrame(nodes.get(id).callFrame);
      const p = parent.get(id);
      const up = p !== undefined ? infoOf(p) : undefined;
      let out = r.native ? { group: up?.group ?? "(native)", label: r.label } : r;
      // The nearest enclosing module top level: whose evaluation this is part of.
      if (!out.top) out = { ...out, under: up?.top ? up : up?.under };
      info.set(id, out);
      return out;
    };
    const interval = median(profile.timeDeltas.filter((d) => d > 0));
    let first = true;
    profile.samples.forEach((id, i) => {
      let us = profile.timeDeltas[i];
      const leaf = nodes.get(id);
      if (leaf.callFrame.functionName === "(idle)") return;
      if (us > 3 * interval) {
        const name = first ? FIRST_GAP : GAP;
        bump(groups, name, "self", us - interval);
        bump(groups, name, "incl", us - interval);
        if (first) firstGap += us - interval;
        else gap += us - interval;
        us = interval;
      }
      first = false;
      const me = infoOf(id);
      const top = me.top ? me : me.under;
      if (top) {
        bump(topGroups, top.group, "incl", us);
        bump(topFiles, top.label, "incl", us);
      }
      bump(groups, me.group, "self", us);
      bump(functions, me.label, "self", us);
      const seenG = new Set();
      const seenF = new Set();
      for (let n = id; n !== undefined; n = parent.get(n)) {
        if (nodes.get(n).callFrame.functionName === "(root)") break;
        const f = infoOf(n);
        if (!seenG.has(f.group)) {
          seenG.add(f.group);
          bump(groups, f.group, "incl", us);
        }
        if (!seenF.has(f.label)) {
          seenF.add(f.label);
          bump(functions, f.label, "incl", us);
        }
      }
    });
  }
  const runs = profiles.length;
  const perRun = (rows) => [...rows.values()].map((r) => ({ name: r.name, self: r.self / 1000 / runs, incl: r.incl / 1000 / runs }));
  return {
    runs,
    samplesPerRun: samples / runs,
    activeMs: active / 1000 / runs,
    activeMedianMs: median(actives),
    gcMs: gc / 1000 / runs,
    firstGapMs: firstGap / 1000 / runs,
    gapMs: gap / 1000 / runs,
    groups: perRun(groups),
    functions: perRun(functions),
    topLevelGroups: perRun(topGroups),
    topLevelFiles: perRun(topFiles),
  };
}

export function printReport(report, { top = 25, title = "startup profile" } = {}) {
  const pct = (ms) => `${((100 * ms) / report.activeMs).toFixed(0)}%`;
  const f = (ms) => ms.toFixed(1).padStart(6);
  console.log(
    `\n${title}: ${report.runs} run(s), ${report.samplesPerRun.toFixed(0)} samples/run, active ${report.activeMs.toFixed(1)} ms/run (median ${report.activeMedianMs.toFixed(1)}), GC ${report.gcMs.toFixed(1)}, before the 1st sample ${report.firstGapMs.toFixed(1)}, unsampled gaps later ${report.gapMs.toFixed(1)}`,
  );
  const table = (rows, key, heading, inclOnly = false) => {
    console.log(`\n${heading}\n${inclOnly ? "    ms   % of active" : "   self ms       incl ms"}`);
    for (const r of [...rows].sort((a, b) => b[key] - a[key] || b.self - a.self).slice(0, top)) {
      if (inclOnly) console.log(`${f(r.incl)} ${pct(r.incl).padStart(4)}   ${r.name}`);
      else console.log(`${f(r.self)} ${pct(r.self).padStart(4)}   ${f(r.incl)} ${pct(r.incl).padStart(4)}   ${r.name}`);
    }
  };
  if (report.topLevelFiles.length > 1) {
    table(report.topLevelGroups, "incl", "module evaluation (top-level statements and all they call), by module/package", true);
    table(report.topLevelFiles, "incl", "module evaluation, by file", true);
  }
  table(report.groups, "self", "by module/package, self time (where the CPU was)");
  table(
    report.groups.filter((g) => !g.name.startsWith("(")),
    "incl",
    "by module/package, inclusive time (that code and everything it called)",
  );
  table(
    report.functions.filter((g) => !g.name.startsWith("(")),
    "self",
    "by function, self time",
  );
  table(
    report.functions.filter((g) => !g.name.startsWith("(")),
    "incl",
    "by function, inclusive time",
  );
}

// ---------------------------------------------------------------------------
// Own profiling in workerd (for --sample and --modules), as wrangler's
// `check startup` does it: a Miniflare whose entry imports the worker's main
// module inside the first request, the V8 profiler running around it.

/**
 * Profiles the evaluation of `main` among `modules` ([{ path, contents }],
 * paths relative, "/"-separated) in a fresh workerd per run.
 */
export async function profileInWorkerd(modules, main, { runs = 10, intervalUs = 1000, compatibilityDate, compatibilityFlags = [] } = {}) {
  const { Miniflare, convertV4MiniflareOptions } = await import(pathToFileURL(resolve("node_modules/miniflare/dist/src/index.js")).href);
  const entry = `__startup_entry_${process.pid}.js`;
  const profiles = [];
  for (let run = 0; run < runs; run++) {
    const mf = new Miniflare(
      convertV4MiniflareOptions({
        name: "startup-profile",
        compatibilityDate,
        compatibilityFlags,
        modulesRoot: "/",
        modules: [
          {
            type: "ESModule",
            path: `/${entry}`,
            contents: `export default { async fetch() { await import(${JSON.stringify(`./${main}`)}); return new Response("ok"); } };`,
          },
          ...modules.map((m) => ({ type: "ESModule", path: `/${m.path}`, contents: m.contents })),
        ],
        inspectorPort: 0,
        handleStructuredLogs: () => {},
      }),
    );
    try {
      await mf.ready;
      const url = await mf.getInspectorURL();
      const ws = new WebSocket(new URL("/core:user:startup-profile", url.href));
      await new Promise((ok, fail) => {
        ws.onopen = ok;
        ws.onerror = fail;
      });
      let id = 0;
      const pending = new Map();
      ws.onmessage = (event) => {
        const message = JSON.parse(event.data);
        // workerd answers a command with an empty result by echoing it, without "result".
        if (message.id !== undefined) pending.get(message.id)?.(message);
        pending.delete(message.id);
      };
      const send = (method, params = {}) =>
        new Promise((ok, fail) => {
          const i = ++id;
          pending.set(i, (m) => (m.error ? fail(new Error(`${method}: ${m.error.message}`)) : ok(m.result ?? {})));
          ws.send(JSON.stringify({ id: i, method, params }));
        });
      await send("Profiler.enable");
      await send("Profiler.setSamplingInterval", { interval: intervalUs });
      await send("Profiler.start");
      const response = await mf.dispatchFetch("https://example.com/");
      const body = await response.text();
      if (!response.ok) throw new Error(`the worker failed to start: ${response.status} ${body.slice(0, 500)}`);
      const { profile } = await send("Profiler.stop");
      profiles.push(profile);
      ws.close();
    } finally {
      await mf.dispose();
    }
    process.stderr.write(`profiled run ${run + 1}/${runs}\n`);
  }
  return profiles;
}

// ---------------------------------------------------------------------------
// Startup CPU time, independent of load: on shared cores the profiler's
// "active" time (wall clock between samples) grows whenever other processes
// take the CPU. Here workerd's own threads' CPU time is read from Linux's
// /proc/<pid>/task/*/schedstat (ns) around the request that imports the main
// module, minus the same for a request that imports nothing.

function childPids() {
  const pids = [];
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === process.pid) pids.push(Number(p));
    } catch {}
  }
  return pids;
}

function processCpuNs(pid) {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {}
  }
  return ns;
}

export const cpuMeasurable = () => process.platform === "linux" && existsSync(`/proc/${process.pid}/task`);

/** CPU ms workerd spends importing `main` in a fresh isolate, once per run. */
export async function measureStartupCpu(modules, main, { runs = 5, compatibilityDate, compatibilityFlags = [] } = {}) {
  const { Miniflare, convertV4MiniflareOptions } = await import(pathToFileURL(resolve("node_modules/miniflare/dist/src/index.js")).href);
  const entry = `__startup_cpu_${process.pid}.js`;
  const out = [];
  for (let run = 0; run < runs; run++) {
    const before = new Set(childPids());
    const mf = new Miniflare(
      convertV4MiniflareOptions({
        name: "startup-cpu",
        compatibilityDate,
        compatibilityFlags,
        modulesRoot: "/",
        modules: [
          {
            type: "ESModule",
            path: `/${entry}`,
            contents: `export default { async fetch(request) { if (new URL(request.url).pathname === "/import") await import(${JSON.stringify(`./${main}`)}); return new Response("ok"); } };`,
          },
          ...modules.map((m) => ({ type: "ESModule", path: `/${m.path}`, contents: m.contents })),
        ],
        handleStructuredLogs: () => {},
      }),
    );
    try {
      await mf.ready;
      const get = async (path) => {
        const response = await mf.dispatchFetch(`https://example.com${path}`);
        const body = await response.text();
        if (!response.ok) throw new Error(`the worker failed to start: ${response.status} ${body.slice(0, 500)}`);
      };
      await get("/");
      await get("/");
      const pid = childPids().find((p) => !before.has(p) && readFileSync(`/proc/${p}/comm`, "utf8").trim() === "workerd");
      if (!pid) throw new Error("workerd's process not found");
      const a = processCpuNs(pid);
      await get("/");
      const b = processCpuNs(pid);
      await get("/import");
      const c = processCpuNs(pid);
      out.push((c - b - (b - a)) / 1e6);
    } finally {
      await mf.dispose();
    }
  }
  return out;
}

/** Modules, main module and compatibility settings of a `wrangler deploy --outfile` bundle. */
export async function bundleModules(bundle = BUNDLE) {
  const parts = await readWorkerBundle(bundle);
  const metadata = JSON.parse(parts.get("metadata").text);
  const toml = wranglerToml();
  return {
    parts,
    main: metadata.main_module,
    modules: [...parts]
      .filter(([name, part]) => name !== "metadata" && part.type !== "application/source-map")
      .map(([path, part]) => ({ path, contents: part.text })),
    compatibilityDate: metadata.compatibility_date ?? toml.compatibilityDate,
    compatibilityFlags: metadata.compatibility_flags ?? toml.compatibilityFlags,
  };
}

/** --cpu a.bundle b.bundle…: startup CPU of each, runs interleaved. */
export async function compareCpu(bundles, runs) {
  const loaded = await Promise.all(bundles.map((b) => bundleModules(b)));
  const results = bundles.map(() => []);
  for (let run = 0; run < runs; run++) {
    for (const [i, b] of loaded.entries()) results[i].push(...(await measureStartupCpu(b.modules, b.main, { ...b, runs: 1 })));
    process.stderr.write(`cpu round ${run + 1}/${runs}\n`);
  }
  console.log(`\nstartup CPU (workerd threads, schedstat), median of ${runs}, runs interleaved:`);
  for (const [i, b] of bundles.entries()) {
    const xs = results[i];
    const js = loaded[i].modules.reduce((n, m) => n + m.contents.length, 0);
    console.log(
      `${median(xs).toFixed(1).padStart(6)} ms  (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)}; ${(js / 1024).toFixed(0)} KiB JS)  ${b}`,
    );
  }
}

function wranglerToml() {
  const text = readFileSync("wrangler.toml", "utf8");
  const date = text.match(/^compatibility_date\s*=\s*"([^"]+)"/m)?.[1];
  const flags = [...(text.match(/^compatibility_flags\s*=\s*\[([^\]]*)\]/m)?.[1] ?? "").matchAll(/"([^"]+)"/g)].map((m) => m[1]);
  const minify = /^minify\s*=\s*true/m.test(text);
  return { compatibilityDate: date, compatibilityFlags: flags, minify };
}

/** Module path → how to name its frames, for the modules of a worker bundle. */
function bundleScripts(parts) {
  const scripts = new Map();
  for (const [name, part] of parts) {
    if (part.type === "application/source-map" || name === "metadata") continue;
    const map = parts.get(`${name}.map`);
    scripts.set(name, {
      map: map ? new SourceMap(JSON.parse(map.text)) : null,
      lines: part.text.split("\n"),
      topLevel: `(top level of ${name}: every module's top-level statements, merged by the bundler)`,
      unmapped: map ? "(esbuild helpers: __name, __export…)" : `(${name}, no source map)`,
    });
  }
  return scripts;
}

/** --sample: the deployable bundle, profiled at a finer interval. */
export async function sampleBundle({ bundle = BUNDLE, runs, intervalUs }) {
  if (!existsSync(bundle)) buildWorkerBundle(bundle);
  const b = await bundleModules(bundle);
  const profiles = await profileInWorkerd(b.modules, b.main, { ...b, runs, intervalUs });
  return { profiles, scripts: bundleScripts(b.parts) };
}

/**
 * --modules: every module of the bundle (src/ files and each file of each
 * package) made an entry point of an esbuild build with code splitting, so that
 * each lands in a chunk of its own (a chunk holds the modules reached by the
 * same set of entry points, and each module now reaches itself) and its top
 * level runs as a function of its own. Entry points keep all their exports:
 * code the normal bundle tree-shakes away stays in; only modules the worker
 * imports are evaluated.
 */
export async function sampleModules({ runs, intervalUs, minify, entry }) {
  const esbuild = await import(pathToFileURL(resolve("node_modules/esbuild/lib/main.js")).href);
  const toml = wranglerToml();
  const outdir = join(WORK, "modules");
  rmSync(outdir, { recursive: true, force: true });
  entry ??= (readFileSync("wrangler.toml", "utf8").match(/^main\s*=\s*"([^"]+)"/m)?.[1] ?? "src/index.ts").replace(/^\.\//, "");
  const common = {
    bundle: true,
    format: "esm",
    target: "es2024",
    conditions: ["workerd", "worker", "browser"],
    external: ["cloudflare:*", "node:*"],
    define: { "process.env.NODE_ENV": '"production"', "navigator.userAgent": '"Cloudflare-Workers"' },
    logLevel: "error",
  };
  const build = esbuild.default?.build ?? esbuild.build;
  // Pass 1: which modules the worker is made of.
  const first = await build({ ...common, entryPoints: [entry], write: false, outdir, metafile: true });
  const inputs = Object.keys(first.metafile.inputs).filter((f) => existsSync(f) && /\.[mc]?[jt]sx?$/.test(f));
  // Pass 2: each of them an entry point.
  const result = await build({
    ...common,
    entryPoints: inputs,
    outbase: ".",
    outdir,
    splitting: true,
    minify: minify ?? toml.minify,
    sourcemap: "external",
    metafile: true,
    entryNames: "[dir]/[name]",
    chunkNames: "chunks/[name]-[hash]",
  });
  const modules = [];
  const scripts = new Map();
  for (const [out, meta] of Object.entries(result.metafile.outputs)) {
    if (!out.endsWith(".js")) continue;
    const path = relative(outdir, out).replaceAll("\\", "/");
    const contents = readFileSync(out, "utf8");
    modules.push({ path, contents });
    // Name a chunk's top level after the module(s) whose code it holds.
    const held = Object.entries(meta.inputs)
      .filter(([, { bytesInOutput }]) => bytesInOutput > 0)
      .sort((a, b) => b[1].bytesInOutput - a[1].bytesInOutput)
      .map(([input]) => normaliseSource(input));
    const name = held.length === 0 ? `${path} (re-exports)` : `${held[0]}${held.length > 1 ? ` + ${held.length - 1} more` : ""}`;
    const mapFile = `${out}.map`;
    scripts.set(path, {
      map: existsSync(mapFile) ? new SourceMap(JSON.parse(readFileSync(mapFile, "utf8"))) : null,
      lines: contents.split("\n"),
      topLevel: `${name} (top level)`,
      topLevelFile: held[0],
      unmapped: "(esbuild helpers: __name, __export…)",
    });
  }
  const main = entry.replace(/\.[mc]?[tj]sx?$/, ".js");
  const profiles = await profileInWorkerd(modules, main, {
    runs,
    intervalUs,
    compatibilityDate: toml.compatibilityDate,
    compatibilityFlags: toml.compatibilityFlags,
  });
  return { profiles, scripts };
}

/** Profiles kept by `npm run startup`, with the bundle they ran. */
export async function keptProfiles(paths, bundle = BUNDLE) {
  if (paths.length === 0 && existsSync(WORK)) {
    paths = readdirSync(WORK)
      .filter((f) => /^run-\d+\.cpuprofile$/.test(f))
      .map((f) => join(WORK, f));
  }
  if (paths.length === 0) throw new Error(`no profiles: run \`npm run startup\` first, or pass .cpuprofile files`);
  let scripts = new Map();
  if (existsSync(bundle)) {
    scripts = bundleScripts(await readWorkerBundle(bundle));
  } else {
    console.error(`${bundle} not found: functions are shown by bundle position, not source file`);
  }
  return { profiles: paths.map((p) => JSON.parse(readFileSync(p, "utf8"))), scripts };
}

function parseArgs(argv) {
  const opts = { paths: [], top: 25, runs: 20, intervalUs: 1000, files: false, mode: "kept", json: false, bundle: BUNDLE };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--sample") opts.mode = "sample";
    else if (a === "--cpu") opts.mode = "cpu";
    else if (a === "--modules") opts.mode = "modules";
    else if (a === "--files") opts.files = true;
    else if (a === "--json") opts.json = true;
    else if (a === "--no-minify") opts.minify = false;
    else if (a === "--top") opts.top = Number(argv[++i]);
    else if (a === "--runs") opts.runs = Number(argv[++i]);
    else if (a === "--interval") opts.intervalUs = Number(argv[++i]);
    else if (a === "--bundle") opts.bundle = argv[++i];
    else if (a === "--entry") opts.entry = argv[++i];
    else if (a.startsWith("--")) throw new Error(`unknown option ${a}`);
    else opts.paths.push(a);
  }
  return opts;
}

export async function main(argv = process.argv.slice(2)) {
  const opts = parseArgs(argv);
  // Paths on the command line are relative to where it was typed; the rest to the project.
  opts.paths = opts.paths.map((p) => resolve(p));
  if (opts.bundle !== BUNDLE) opts.bundle = resolve(opts.bundle);
  if (opts.entry) opts.entry = relative(fileURLToPath(new URL("..", import.meta.url)), resolve(opts.entry));
  process.chdir(fileURLToPath(new URL("..", import.meta.url)));
  if (opts.mode === "cpu") {
    if (!cpuMeasurable()) throw new Error("--cpu needs Linux /proc");
    const bundles = opts.paths.length ? opts.paths : [opts.bundle];
    if (bundles.includes(BUNDLE) && !existsSync(BUNDLE)) buildWorkerBundle(BUNDLE);
    return compareCpu(bundles, opts.runs === 20 ? 9 : opts.runs);
  }
  const { profiles, scripts } =
    opts.mode === "sample"
      ? await sampleBundle({ bundle: opts.bundle, runs: opts.runs, intervalUs: opts.intervalUs })
      : opts.mode === "modules"
        ? await sampleModules({ runs: opts.runs, intervalUs: opts.intervalUs, minify: opts.minify, entry: opts.entry })
        : await keptProfiles(opts.paths, opts.bundle);
  if (opts.mode !== "kept") {
    mkdirSync(join(WORK, opts.mode), { recursive: true });
    for (const [i, p] of profiles.entries()) writeFileSync(join(WORK, opts.mode, `run-${i + 1}.cpuprofile`), JSON.stringify(p));
  }
  const report = analyse(profiles, scripts, { files: opts.files });
  if (opts.json) return console.log(JSON.stringify(report, null, 2));
  const titles = {
    kept: "wrangler check startup profiles",
    sample: `deployable bundle re-profiled in workerd at ${opts.intervalUs} µs`,
    modules: `one ES module per source module (esbuild splitting), profiled in workerd at ${opts.intervalUs} µs`,
  };
  printReport(report, { top: opts.top, title: titles[opts.mode] });
  if (opts.mode !== "kept")
    console.log(`\nprofiles kept in ${join(WORK, opts.mode)}/ (open one in Chrome DevTools › Performance, or VS Code)`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
