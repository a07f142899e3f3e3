// `npm run startup`: how much CPU a new isolate spends evaluating the worker
// before it can answer its first request. Builds the deployable bundle once
// (as `wrangler check startup` would), runs `wrangler check startup` on it
// STARTUP_RUNS times (default 5) and prints each run's active startup time,
// their median against the goal, and the bundle size. A report, not a gate:
// exits 0 whatever the figure, non-zero only when wrangler fails.
//
// wrangler's figure is wall-clock time between profiler samples, so it grows
// when other processes take the CPU (on a busy machine runs vary 2-3x). On
// Linux the script also prints "startup CPU": workerd's own CPU time to import
// the same bundle (schedstat), stable under load; compare versions with that.
//
// Keeps every run's CPU profile in .startup/run-N.cpuprofile and the last one
// as .startup/worker-startup.cpuprofile (open it in Chrome DevTools ›
// Performance, or VS Code). `--profile` also prints where the time went
// (scripts/startup-profile.mjs over all the runs' profiles).
// `--entry path/to/other-entry.ts` measures another entry with the same
// wrangler.toml (for experiments); other arguments after `--` go to
// `wrangler deploy --dry-run` (e.g. `npm run startup -- -- --minify=false`).
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { bundleSize } from "./bundle-size.mjs";
import { wranglerEnv } from "./local-env.mjs";
import {
  analyse,
  BUNDLE,
  buildWorkerBundle,
  bundleModules,
  cpuMeasurable,
  keptProfiles,
  measureStartupCpu,
  printReport,
  WORK,
} from "./startup-profile.mjs";

export const GOAL_MS = 20;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** "│   Active: 37.5 ms (including 3.1 ms garbage collection)" → { active: 37.5, gc: 3.1 } */
export function parseCheckStartup(output) {
  const active = output.match(/Active:\s*([\d.]+)\s*ms(?:\s*\(including\s*([\d.]+)\s*ms garbage collection\))?/);
  if (!active) return null;
  const samples = output.match(/Samples:\s*(\d+)/);
  return { active: Number(active[1]), gc: active[2] ? Number(active[2]) : null, samples: samples ? Number(samples[1]) : null };
}

/**
 * Runs `wrangler check startup` `runs` times on one bundle. Returns
 * { runs: [{ active, gc, samples }], medianMs, bundle }.
 */
export function measureStartup({
  runs = Number(process.env.STARTUP_RUNS ?? 5),
  entry,
  deployArgs = [],
  log = (line) => console.error(line),
} = {}) {
  mkdirSync(WORK, { recursive: true });
  for (const f of readdirSync(WORK)) if (/^run-\d+\.cpuprofile$/.test(f)) rmSync(join(WORK, f));
  log(`building ${entry ?? "the worker"} (wrangler deploy --dry-run)…`);
  buildWorkerBundle(BUNDLE, [...(entry ? [entry] : []), ...deployArgs]);
  const results = [];
  for (let i = 1; i <= runs; i++) {
    const profile = join(WORK, `run-${i}.cpuprofile`);
    const r = spawnSync("wrangler", ["check", "startup", "--worker", BUNDLE, "--outfile", profile], { env: wranglerEnv, encoding: "utf8" });
    const parsed = r.status === 0 ? parseCheckStartup(r.stdout + r.stderr) : null;
    if (!parsed) {
      process.stderr.write(r.stdout + r.stderr);
      throw new Error(`wrangler check startup failed (exit ${r.status})`);
    }
    results.push(parsed);
    log(`run ${i}/${runs}: active ${parsed.active.toFixed(1)} ms (GC ${parsed.gc ?? "?"} ms, ${parsed.samples} samples)`);
  }
  copyFileSync(join(WORK, `run-${runs}.cpuprofile`), join(WORK, "worker-startup.cpuprofile"));
  return { runs: results, medianMs: median(results.map((r) => r.active)), bundle: BUNDLE };
}

async function main(argv) {
  const dash = argv.indexOf("--");
  const deployArgs = dash >= 0 ? argv.slice(dash + 1) : [];
  const own = dash >= 0 ? argv.slice(0, dash) : argv;
  const entryAt = own.indexOf("--entry");
  const root = fileURLToPath(new URL("..", import.meta.url));
  const entry = entryAt >= 0 ? relative(root, resolve(own[entryAt + 1])) : undefined;
  process.chdir(root);
  const result = measureStartup({ entry, deployArgs });
  const size = entry || deployArgs.length ? null : bundleSize(join(WORK, "dist"));
  let cpu = null;
  if (cpuMeasurable()) {
    try {
      const b = await bundleModules(BUNDLE);
      cpu = await measureStartupCpu(b.modules, b.main, { ...b, runs: result.runs.length });
    } catch (error) {
      console.error(`startup CPU not measured: ${error.message}`);
    }
  }
  const actives = result.runs.map((r) => r.active);
  console.log(
    `\nwrangler check startup × ${actives.length}${entry ? ` (entry ${entry})` : ""}: ${actives.map((a) => a.toFixed(1)).join(" / ")} ms`,
  );
  console.log(
    `startup      = ${result.medianMs.toFixed(1)} ms active (wrangler), median of ${actives.length} (min ${Math.min(...actives).toFixed(1)}, max ${Math.max(...actives).toFixed(1)}; goal ≤ ${GOAL_MS} ms${result.medianMs <= GOAL_MS ? ", met" : ", not met"})`,
  );
  if (cpu)
    console.log(
      `startup CPU  = ${median(cpu).toFixed(1)} ms, median of ${cpu.length} (${cpu.map((x) => x.toFixed(1)).join(" / ")}): workerd's thread CPU time for the same import, which busy shared cores do not inflate`,
    );
  if (size) console.log(`bundle       = ${(size.gz / 1024).toFixed(1)} KiB gzip (${(size.raw / 1024).toFixed(1)} KiB raw)`);
  console.log(`profiles     = ${WORK}/run-1…${actives.length}.cpuprofile, last as ${WORK}/worker-startup.cpuprofile`);
  if (own.includes("--profile")) {
    const { profiles, scripts } = await keptProfiles([], BUNDLE);
    printReport(analyse(profiles, scripts), { top: 25, title: "where the startup time went (all runs)" });
  } else {
    console.log(`breakdown    = node scripts/startup-profile.mjs  (or --modules for per-src-file top-level costs)`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((error) => {
    console.error(error.message ?? error);
    process.exit(1);
  });
}
