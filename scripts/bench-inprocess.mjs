// `npm run bench:inprocess`: the per-request cost of the hot path inside
// workerd, without network or load generator. Starts scripts/bench/inprocess-worker.ts
// under `wrangler dev`, which loops one variant n times per request (the
// production app called with app.fetch, smaller apps with one layer more each,
// or one step alone). workerd's clocks stand still during CPU work, so each
// sample is measured here, from outside, as (T(n) - T(0)) / n with the two
// runs back to back, where T is the CPU time the worker's workerd processes
// used (Linux schedstat; wall time where that is missing). CPU time, unlike
// wall time, does not count the time other processes held the CPU, which on a
// shared two-core machine is most of the noise. Each of BENCH_INPROCESS_SAMPLES
// samples runs every variant once, in random order; the tables show the median
// and the fastest sample (their gap shows the noise that is left) and the
// median in wall time as a cross-check. Differences between two variants
// (key − health, what a layer adds) are taken within each sample, then the
// median of those.
//
// What it answers: GET /v1/key minus GET /health for a warm key (goal ≤ 15 µs),
// through the production entry (src/index.ts: the edge app answers /v1/key and
// hands /health to the full app) and in the full app alone (the same routing
// for both: what verification costs), and where that time goes. Not a test: nothing here fails on a slow machine.
import { pathToFileURL } from "node:url";
import { median, ready, runMain, startWorker, workerCpuNs } from "./bench/workers.mjs";
import { ensureDevVars } from "./local-env.mjs";

const SAMPLES = Number(process.env.BENCH_INPROCESS_SAMPLES ?? 7);
/** Aimed duration of one timed run, in ms: long against HTTP jitter, short against a busy machine's time slices. */
const RUN_MS = Number(process.env.BENCH_INPROCESS_MS ?? 600);

/** Layers in the order each adds to the one before (see the worker's build()). */
const LAYERS = [
  ["layer:hono-bare", "hono: route + c.json"],
  ["layer:openapi-router", "OpenAPIHono instead of Hono"],
  ["layer:key-route", "key route: requireKey + handler (CallingKey body)"],
  ["layer:+requestContext-before-next", "+ requestContext, only its part before next() (id, c.set)"],
  ["layer:+requestContext", "+ the rest of requestContext (response headers, log decision)"],
  ["layer:+cors", "+ CORS layer (skipped: no Origin)"],
  ["full:key", "full app (+ body-limit, other routers, 404 handler)"],
];

export function startInProcessWorker(port = 8914) {
  return startWorker("inprocess", port, ["scripts/bench/inprocess-worker.ts", "--var", "LOG_SUCCESSES:false"]);
}

/** One run of n calls: {wall, cpu} in ms (cpu null without schedstat). */
async function timed(base, variant, n) {
  const cpu = workerCpuNs(base);
  const started = performance.now();
  const res = await fetch(`${base}/run?variant=${encodeURIComponent(variant)}&n=${n}`);
  await res.text();
  const wall = performance.now() - started;
  if (!res.ok) throw new Error(`${variant}: ${res.status}`);
  return { wall, cpu: cpu === null ? null : (workerCpuNs(base) - cpu) / 1e6 };
}
const cost = (t) => t.cpu ?? t.wall;

/**
 * Samples of every variant: {cpu: {variant: [µs per call, one per sample]}, wall: {...}}.
 * Each sample runs every variant once, in a new random order, so that what
 * runs before a variant (a collection left over, a cache warmed) is spread over all.
 */
export async function profileInProcess(base, log = (line) => process.stderr.write(`${line}\n`)) {
  await ready(base, "/variants");
  const variants = await (await fetch(`${base}/variants`)).json();
  for (const v of variants.filter((v) => !v.startsWith("part:"))) {
    const res = await fetch(`${base}/check?variant=${encodeURIComponent(v)}`);
    if (!res.ok) throw new Error(`${v} answered ${res.status}: ${await res.text()}`);
  }
  // Calibrate n per variant so that a run takes about RUN_MS (this also warms the JIT).
  const n = {};
  for (const v of variants) {
    let count = 1000;
    for (;;) {
      const ms = cost(await timed(base, v, count)) - cost(await timed(base, v, 0));
      if (ms > RUN_MS / 4 || count >= 1_000_000) {
        n[v] = Math.max(1000, Math.min(1_000_000, Math.round((count * RUN_MS) / Math.max(ms, 0.01))));
        break;
      }
      count *= 8;
    }
    if (v.includes("log")) await settle();
  }
  const cpu = Object.fromEntries(variants.map((v) => [v, []]));
  const wall = Object.fromEntries(variants.map((v) => [v, []]));
  for (let s = 1; s <= SAMPLES; s++) {
    log(`in-process sample ${s}/${SAMPLES}`);
    for (const v of shuffled(variants)) {
      // A short untimed run first: it pays for what the previous variant left
      // behind (garbage to collect), which would otherwise land in this one.
      await timed(base, v, Math.ceil(n[v] / 4));
      const empty = await timed(base, v, 0);
      const full = await timed(base, v, n[v]);
      cpu[v].push(((cost(full) - cost(empty)) * 1000) / n[v]);
      wall[v].push(((full.wall - empty.wall) * 1000) / n[v]);
      if (v.includes("log")) await settle();
    }
  }
  if (process.env.BENCH_INPROCESS_DEBUG) for (const v of variants) log(`${v}: n=${n[v]} cpu ${cpu[v].map((x) => x.toFixed(1)).join(" ")}`);
  return { cpu, wall };
}

// The log lines are written by workerd but relayed by wrangler afterwards: let that settle.
const settle = () => new Promise((r) => setTimeout(r, 1000));

function shuffled(xs) {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** Prints the profile; returns key − health in CPU µs (median of the per-sample differences). */
export function printProfile({ cpu, wall }) {
  const f = (x) => x.toFixed(2);
  const med = (v) => median(cpu[v]);
  // A difference is taken within each sample (both runs seconds apart), then the median of those.
  const diff = (a, b, t = cpu) => median(t[a].map((x, i) => x - t[b][i]));
  const cells = (v) => `${f(med(v))} | ${f(Math.min(...cpu[v]))} | ${f(median(wall[v]))}`;
  console.log(`\nin-process (workerd under wrangler dev, app.fetch looped, no network): µs per call, (T(n)-T(0))/n, ${SAMPLES} samples`);
  console.log(
    `T = CPU time of the worker's workerd processes: median and fastest sample; wall = median in wall time; differences = median of per-sample differences\n`,
  );
  console.log(`| step | CPU µs | fastest | wall µs | added (CPU µs) |`);
  console.log(`|---|---:|---:|---:|---:|`);
  console.log(`| GET /health, production entry (edge app hands it to the full app) | ${cells("app:health")} | |`);
  console.log(`| GET /v1/key, production entry (edge app) | ${cells("app:key")} | |`);
  const keyMinusHealth = diff("app:key", "app:health");
  console.log(
    `| **/v1/key − /health, production entry** | **${f(keyMinusHealth)}** | | ${f(diff("app:key", "app:health", wall))} | goal ≤ 15 |`,
  );
  console.log(`| GET /health, full app | ${cells("full:health")} | |`);
  console.log(
    `| GET /v1/ping, full app + a keyless /v1 route (the /v1 layers) | ${cells("full:v1-ping")} | ${f(diff("full:v1-ping", "full:health"))} over health |`,
  );
  let before;
  for (const [v, label] of LAYERS) {
    console.log(`| GET /v1/key: ${label} | ${cells(v)} | ${before ? f(diff(v, before)) : ""} |`);
    before = v;
  }
  console.log(
    `| **/v1/key − /health, full app** (verification, same routing) | **${f(diff("full:key", "full:health"))}** | | ${f(diff("full:key", "full:health", wall))} | |`,
  );
  console.log(
    `| /v1/key − /v1/ping, full app (requireKey + the CallingKey handler) | ${f(diff("full:key", "full:v1-ping"))} | | ${f(diff("full:key", "full:v1-ping", wall))} | |`,
  );
  console.log(`\n| one step alone | CPU µs | fastest | wall µs |`);
  console.log(`|---|---:|---:|---:|`);
  for (const v of Object.keys(cpu)) if (v.startsWith("part:")) console.log(`| ${v.slice(5)} | ${cells(v)} |`);
  console.log(
    `\nkey − health = ${f(keyMinusHealth)} µs CPU, production entry; ${f(diff("full:key", "full:health"))} µs in the full app alone (medians of per-sample differences)   (goal ≤ 15)`,
  );
  return keyMinusHealth;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runMain(async () => {
    ensureDevVars();
    const base = startInProcessWorker();
    printProfile(await profileInProcess(base));
  });
}
