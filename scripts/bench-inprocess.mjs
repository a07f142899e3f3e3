// `npm run bench:inprocess`: the per-request cost of the hot path inside
// workerd, without network or load generator. Starts scripts/bench/inprocess-worker.ts
// under `wrangler dev`, which loops one variant n times per request (the
// production app called with app.fetch, smaller apps with one layer more each,
// or one step alone). workerd's clocks stand still during CPU work, so each
// sample is timed here, from outside, as (T(n) - T(0)) / n with the two runs
// back to back. The tables show the median of BENCH_INPROCESS_SAMPLES samples
// and the fastest sample: on a shared machine a sample that lost the CPU to
// another process is slower, never faster, so the minimum is the closer
// estimate of the code's own cost and the gap between the two shows the noise.
//
// What it answers: GET /v1/key minus GET /health for a warm key (goal ≤ 15 µs)
// and where that time goes. Not a test: nothing here fails on a slow machine.
import { pathToFileURL } from "node:url";
import { ensureDevVars } from "./local-env.mjs";
import { median, ready, runMain, startWorker } from "./bench/workers.mjs";

const SAMPLES = Number(process.env.BENCH_INPROCESS_SAMPLES ?? 9);
/** Aimed duration of one timed run, in ms: long against HTTP jitter, short against a busy machine's time slices. */
const RUN_MS = Number(process.env.BENCH_INPROCESS_MS ?? 150);

/** Layers in the order each adds to the one before (see the worker's build()). */
const LAYERS = [
  ["layer:hono-bare", "hono: route + c.json"],
  ["layer:openapi-router", "OpenAPIHono instead of Hono"],
  ["layer:key-route", "key route: requireKey + handler (CallingKey body)"],
  ["layer:+requestContext", "+ requestContext (id, headers, log decision)"],
  ["layer:+cors", "+ CORS layer (skipped: no Origin)"],
  ["app:key", "full app (+ body-limit, other routers, 404 handler)"],
];

export function startInProcessWorker(port = 8914) {
  return startWorker("inprocess", port, ["scripts/bench/inprocess-worker.ts", "--var", "LOG_SUCCESSES:false"]);
}

async function timed(base, variant, n) {
  const started = performance.now();
  const res = await fetch(`${base}/run?variant=${encodeURIComponent(variant)}&n=${n}`);
  await res.text();
  if (!res.ok) throw new Error(`${variant}: ${res.status}`);
  return performance.now() - started;
}

/** µs per call of each variant: {variant: {median, min}}. */
export async function profileInProcess(base, log = (line) => process.stderr.write(line + "\n")) {
  await ready(base, "/variants");
  const variants = await (await fetch(`${base}/variants`)).json();
  for (const v of variants.filter((v) => v.startsWith("app:") || v.startsWith("layer:"))) {
    const res = await fetch(`${base}/check?variant=${encodeURIComponent(v)}`);
    if (!res.ok) throw new Error(`${v} answered ${res.status}: ${await res.text()}`);
  }
  // Calibrate n per variant so that a run takes about RUN_MS (this also warms the JIT).
  const n = {};
  for (const v of variants) {
    let count = 1000;
    for (;;) {
      const ms = (await timed(base, v, count)) - (await timed(base, v, 0));
      if (ms > RUN_MS / 4 || count >= 1_000_000) {
        n[v] = Math.max(1000, Math.min(1_000_000, Math.round((count * RUN_MS) / Math.max(ms, 0.01))));
        break;
      }
      count *= 8;
    }
  }
  const samples = Object.fromEntries(variants.map((v) => [v, []]));
  for (let s = 1; s <= SAMPLES; s++) {
    log(`in-process sample ${s}/${SAMPLES}`);
    for (const v of variants) {
      const empty = await timed(base, v, 0);
      const full = await timed(base, v, n[v]);
      samples[v].push(((full - empty) * 1000) / n[v]);
    }
  }
  return Object.fromEntries(variants.map((v) => [v, { median: median(samples[v]), min: Math.min(...samples[v]) }]));
}

export function printProfile(us) {
  const f = (x) => x.toFixed(2);
  const diff = (a, b, q) => us[a][q] - us[b][q];
  console.log(`\nin-process (workerd, app.fetch, no network; ${SAMPLES} samples of (T(n)-T(0))/n per step, µs per call: median, fastest)\n`);
  console.log(`| step | median µs | fastest µs | added by this layer (median / fastest) |`);
  console.log(`|---|---:|---:|---:|`);
  console.log(`| GET /health (full app) | ${f(us["app:health"].median)} | ${f(us["app:health"].min)} | |`);
  let before;
  for (const [v, label] of LAYERS) {
    const added = before ? `${f(diff(v, before, "median"))} / ${f(diff(v, before, "min"))}` : "";
    console.log(`| GET /v1/key: ${label} | ${f(us[v].median)} | ${f(us[v].min)} | ${added} |`);
    before = v;
  }
  const keyMinusHealth = { median: diff("app:key", "app:health", "median"), min: diff("app:key", "app:health", "min") };
  console.log(`| **/v1/key − /health** | **${f(keyMinusHealth.median)}** | **${f(keyMinusHealth.min)}** | goal ≤ 15 |`);
  console.log(`\n| one step alone | median µs | fastest µs |`);
  console.log(`|---|---:|---:|`);
  for (const [v, x] of Object.entries(us)) if (v.startsWith("part:")) console.log(`| ${v.slice(5)} | ${f(x.median)} | ${f(x.min)} |`);
  console.log(`\nkey − health = ${f(keyMinusHealth.median)} µs median, ${f(keyMinusHealth.min)} µs fastest   (goal ≤ 15)`);
  return keyMinusHealth;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  runMain(async () => {
    ensureDevVars();
    const base = startInProcessWorker();
    printProfile(await profileInProcess(base));
  });
}
