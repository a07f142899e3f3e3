// `npm run bench`: starts the worker locally as `npm run dev` does, drives it
// with autocannon in alternating rounds, and prints requests/s, p50 and p99
// per target with the ratios the goals are stated in, the in-process profile
// of the hot path (scripts/bench-inprocess.mjs; measured first, while the
// other workers are idle) and the gzip size of the bundle.
//
// Targets (every one driven through the same client code: one autocannon
// request whose setupRequest takes the next key from an array, round robin,
// so the load generator does the same work per request whatever the number
// of keys; on two shared cores its own work would otherwise count as server cost):
//   GET /health                          no key, no storage: the ceiling of this setup
//   (a) hot key                          GET /v1/key, 1 key: memo hit on every request
//   GET /v1/sources?limit=1              a key route that also reads D1
//   (b) keys in 1 workspace              GET /v1/key round robin over BENCH_KEYS keys of one workspace
//   (c) keys over workspaces             GET /v1/key round robin over BENCH_KEYS keys spread over
//                                        BENCH_WORKSPACES workspaces (key i in workspace i mod W), so
//                                        consecutive requests come from different workspaces
//   no cache, 1 key                      the baseline worker (scripts/bench/naive-worker.ts: every
//                                        request reads D1 and writes last-used to D1, awaited)
//   (d) no cache, keys over workspaces   the baseline over the same shape of keys as (c)
//   SHA-256 x200 noble / crypto.subtle   hashing cost inside workerd (scripts/bench/hash-worker.ts)
//
// Scenarios (a)–(c) are measured in the steady state in which each key is
// used every few seconds: each measured run (BENCH_SCENARIO_SECONDS, default
// 20) follows an unmeasured run of the same traffic (BENCH_STEADY_SECONDS,
// default 25). By then every key was read once into the isolate's memo, where
// the change feed (read in the background once a second) keeps it current,
// as in a long-running isolate; without it a run would start with 3 000 cold
// KV reads. Locally a KV read runs in the same workerd on the same two cores
// (~0.5 ms of CPU per key: see "worker CPU µs/req"); in production it is I/O
// elsewhere.
//
// Every run starts once the workers are idle (scripts/bench/workers.mjs
// settle): the refreshes, use reports and recorder flushes a run leaves
// behind are its own cost, not the next target's.
//
// "worker CPU µs/req" is the CPU time of the worker's workerd processes over a
// run divided by its requests: the server's cost without the load generator's.
// Locally that includes KV, D1 and the Durable Objects, which run in the same
// workerd (in production they run elsewhere and cost the isolate only the call).
//
// Environment: BENCH_ROUNDS (3), BENCH_SECONDS (5), BENCH_SCENARIO_SECONDS (20), BENCH_STEADY_SECONDS (25),
// BENCH_CONNECTIONS (16), BENCH_KEYS (3000), BENCH_WORKSPACES (300),
// BENCH_SEED_CONCURRENCY (8 per worker), BENCH_INPROCESS ("0" skips the profile),
// BENCH_INPROCESS_SAMPLES / BENCH_INPROCESS_MS (see bench-inprocess.mjs),
// BENCH_ONLY ("a,b,c": only those scenarios, no start-up figures),
// BENCH_EXTRA_VARS ("NAME:value …", passed as --var to the cached and no-cache
// workers: to try a setting, e.g. LAST_USED_COALESCE_MS:60000).
// Quick run: BENCH_KEYS=300 BENCH_WORKSPACES=30 BENCH_ROUNDS=1 BENCH_SECONDS=3 BENCH_SCENARIO_SECONDS=3 BENCH_STEADY_SECONDS=3 BENCH_INPROCESS_SAMPLES=3
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import { median, ready, runMain, settle, startWorker, WORK, workerCpuNs } from "./bench/workers.mjs";
import { printProfile, profileInProcess, startInProcessWorker } from "./bench-inprocess.mjs";
import { bundleSize } from "./bundle-size.mjs";
import { ensureDevVars } from "./local-env.mjs";
import { signSession } from "./session-token.mjs";

const int = (name, fallback) => {
  const n = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a whole number ≥ 1`);
  return n;
};
const ROUNDS = int("BENCH_ROUNDS", 3);
const SECONDS = int("BENCH_SECONDS", 5);
const SCENARIO_SECONDS = int("BENCH_SCENARIO_SECONDS", 20);
const STEADY_SECONDS = int("BENCH_STEADY_SECONDS", 25);
const CONNECTIONS = int("BENCH_CONNECTIONS", 16);
const KEYS = int("BENCH_KEYS", 3000);
const WORKSPACES = int("BENCH_WORKSPACES", 300);
const SEED_CONCURRENCY = int("BENCH_SEED_CONCURRENCY", 8);
const IN_PROCESS = process.env.BENCH_INPROCESS !== "0";
// BENCH_ONLY=a,b,c,d runs just those scenarios (a quicker loop while working on one of them).
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(",").map((x) => x.trim())) : null;

/** Creates keys through POST /v1/api-keys, at most `concurrency` at a time; returns the secrets in the order of `workspaces`. */
async function createKeys(base, secret, workspaces, concurrency = SEED_CONCURRENCY) {
  const tokens = new Map();
  const token = (ws) => {
    if (!tokens.has(ws)) tokens.set(ws, signSession(secret, { sub: "usr_bench", ws, role: "admin" }));
    return tokens.get(ws);
  };
  const keys = new Array(workspaces.length);
  let next = 0;
  async function worker() {
    while (next < workspaces.length) {
      const i = next++;
      const res = await fetch(`${base}/v1/api-keys`, {
        method: "POST",
        headers: { Authorization: `Bearer ${token(workspaces[i])}`, "Content-Type": "application/json" },
        body: JSON.stringify({ name: `bench ${i}`, scopes: ["sources:read", "sources:write"] }),
      });
      if (res.status !== 201) throw new Error(`creating key ${i} in ${workspaces[i]}: ${res.status} ${await res.text()}`);
      keys[i] = (await res.json()).key;
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, workspaces.length) }, worker));
  return keys;
}

async function createSource(base, key) {
  const res = await fetch(`${base}/v1/sources`, {
    method: "POST",
    headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
    body: JSON.stringify({ name: "bench source", type: "text", content: "hello" }),
  });
  if (res.status !== 201) throw new Error(`creating a source: ${res.status}`);
}

const pad = (i) => String(i).padStart(String(WORKSPACES - 1).length, "0");
/** Key i in workspace i mod W: a round robin over the keys visits the workspaces in turn. */
const spread = Array.from({ length: KEYS }, (_, i) => `ws_bench_${pad(i % WORKSPACES)}`);
const single = Array.from({ length: KEYS }, () => "ws_bench_one");

/**
 * One autocannon run. Every target goes through this same request setup:
 * the next key of `keys` (round robin, shared by all connections) as the
 * bearer token; no header when `keys` is empty.
 */
function load(base, path, keys, { seconds, amount }) {
  let next = 0;
  const setupRequest = (req) => {
    if (keys.length > 0) req.headers.authorization = `Bearer ${keys[next++ % keys.length]}`;
    return req;
  };
  const limit = amount === undefined ? { duration: seconds } : { amount };
  const cpuBefore = workerCpuNs(base);
  return new Promise((resolve, reject) => {
    autocannon({ url: base, connections: CONNECTIONS, requests: [{ method: "GET", path, setupRequest }], ...limit }, (err, r) => {
      if (err) return reject(err);
      const bad = r.non2xx + r.errors + r.timeouts;
      if (bad > 0) return reject(new Error(`${base}${path}: ${bad} failed requests of ${r.requests.total}`));
      // The worker's own CPU per request (workerd: the worker, and locally also KV, D1 and the Durable Objects it calls).
      const cpu = cpuBefore === null ? null : (workerCpuNs(base) - cpuBefore) / 1000 / r.requests.total;
      resolve({ rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, cpu });
    });
  });
}

async function main() {
  const secret = ensureDevVars();
  const startedAt = Date.now();
  const load1 = loadavg()[0];
  // Success logs off for every target alike: wrangler dev streams each log line
  // to this terminal, which would otherwise be half of what is measured.
  const extraVars = (process.env.BENCH_EXTRA_VARS ?? "").split(" ").filter(Boolean);
  const quiet = ["--var", "LOG_SUCCESSES:false", ...extraVars.flatMap((v) => ["--var", v])];
  const cached = startWorker("cached", 8911, quiet);
  // The baseline is its own entry point (the same app built from naive parts), with wrangler.toml's bindings.
  const naive = startWorker("no-cache", 8912, ["scripts/bench/naive-worker.ts", ...quiet]);
  const hashes = startWorker("hash", 8913, ["--config", "scripts/bench/hash-worker.toml"]);
  const inProcess = IN_PROCESS ? startInProcessWorker(8914) : null;
  await Promise.all([ready(cached), ready(naive), ready(hashes, "/check")]);
  if ((await (await fetch(`${hashes}/check`)).text()) !== "true") throw new Error("noble and WebCrypto disagree");

  // First, while the other workers are idle: the load rounds leave them with
  // background work (recorder flushes of thousands of keys) that would land in it.
  const profile = inProcess ? await profileInProcess(inProcess) : null;

  process.stderr.write(
    `seeding ${KEYS} keys in 1 workspace and ${KEYS} over ${WORKSPACES} workspaces (cached), ${KEYS} over ${WORKSPACES} (no cache)…\n`,
  );
  const seedStarted = Date.now();
  const [[hot], [naiveHot], oneWs, manyWs, naiveMany] = await Promise.all([
    createKeys(cached, secret, ["ws_bench"]),
    createKeys(naive, secret, ["ws_bench"]),
    createKeys(cached, secret, single),
    createKeys(cached, secret, spread),
    createKeys(naive, secret, spread),
  ]);
  await createSource(cached, hot);
  await createSource(naive, naiveHot);
  const seedSeconds = (Date.now() - seedStarted) / 1000;

  const s = SCENARIO_SECONDS;
  const targets = [
    { name: "GET /health", base: cached, path: "/health", keys: [] },
    { name: "(a) GET /v1/key, 1 hot key", base: cached, path: "/v1/key", keys: [hot], seconds: s, warm: true },
    { name: "GET /v1/sources?limit=1, 1 hot key", base: cached, path: "/v1/sources?limit=1", keys: [hot] },
    { name: `(b) GET /v1/key, ${KEYS} keys in 1 workspace`, base: cached, path: "/v1/key", keys: oneWs, seconds: s, warm: true },
    {
      name: `(c) GET /v1/key, ${KEYS} keys over ${WORKSPACES} workspaces`,
      base: cached,
      path: "/v1/key",
      keys: manyWs,
      seconds: s,
      warm: true,
    },
    { name: "GET /v1/key, no cache, 1 key", base: naive, path: "/v1/key", keys: [naiveHot] },
    {
      name: `(d) GET /v1/key, no cache, ${KEYS} keys over ${WORKSPACES} workspaces`,
      base: naive,
      path: "/v1/key",
      keys: naiveMany,
      seconds: s,
    },
    { name: "SHA-256 x200 @noble/hashes", base: hashes, path: "/noble?n=200", keys: [] },
    { name: "SHA-256 x200 crypto.subtle", base: hashes, path: "/subtle?n=200", keys: [] },
  ];
  const [health, a, , b, c, naive1, d, noble, subtle] = targets;
  const included = (t) => ONLY === null || [...ONLY].some((letter) => t.name.startsWith(`(${letter})`));
  const chosen = targets.filter(included);

  process.stderr.write(`warming up…\n`);
  for (const t of chosen) await load(t.base, t.path, t.keys, { seconds: 1 });

  const runs = new Map(chosen.map((t) => [t, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const t of chosen) {
      process.stderr.write(`round ${round}/${ROUNDS}: ${t.name}\n`);
      await settle([cached, naive, hashes]);
      // Unmeasured, so that the measured run starts from the steady state (see the header).
      if (t.warm) await load(t.base, t.path, t.keys, { seconds: STEADY_SECONDS });
      runs.get(t).push(await load(t.base, t.path, t.keys, { seconds: t.seconds ?? SECONDS }));
    }
  }
  const loadEnd = loadavg()[0];

  const size = bundleSize(join(WORK, "dist"));

  const rows = new Map(
    chosen.map((t) => {
      const r = runs.get(t);
      const cpu = r.every((x) => x.cpu !== null) ? median(r.map((x) => x.cpu)) : null;
      return [
        t,
        {
          rps: median(r.map((x) => x.rps)),
          p50: median(r.map((x) => x.p50)),
          p99: median(r.map((x) => x.p99)),
          cpu,
          rounds: r.map((x) => x.rps.toFixed(0)).join(" / "),
        },
      ];
    }),
  );
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  const f2 = (x) => x.toFixed(2);
  console.log(
    `\nowlish keys bench — ${new Date().toISOString()} — ${cpus().length} × ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
  );
  console.log(
    `load average (1 min) ${load1.toFixed(2)} at start, ${loadEnd.toFixed(2)} after the load rounds; seeding took ${seedSeconds.toFixed(0)} s; total ${((Date.now() - startedAt) / 1000).toFixed(0)} s`,
  );
  console.log(
    `wrangler dev (LOG_SUCCESSES=false), autocannon, ${CONNECTIONS} connections, ${ROUNDS} alternating rounds, ${SECONDS}s per target and ${SCENARIO_SECONDS}s per scenario (a)–(d) ((a)–(c) after ${STEADY_SECONDS}s unmeasured), medians\n`,
  );
  console.log(`| target | req/s | p50 ms | p99 ms | worker CPU µs/req | req/s per round |`);
  console.log(`|---|---:|---:|---:|---:|---|`);
  for (const t of chosen) {
    const r = rows.get(t);
    console.log(`| ${t.name} | ${r.rps.toFixed(0)} | ${r.p50} | ${r.p99} | ${r.cpu === null ? "" : r.cpu.toFixed(0)} | ${r.rounds} |`);
  }

  const mark = (ok) => (ok ? "ok" : "MISSED");
  // Ratios are paired by round: round i of a scenario against round i of the
  // target it is compared with, which ran minutes apart at most, then the
  // median of those. The machine's speed drifts between rounds (other work on
  // the two cores), which a ratio of medians taken from different rounds
  // would count as the scenario's cost.
  const paired = (t, u, field) => {
    const [x, y] = [runs.get(t), runs.get(u)];
    if (!x || !y) return { value: NaN, rounds: "" };
    const each = x.map((r, i) => r[field] / y[i][field]);
    return { value: median(each), rounds: each.map(f2).join(" / ") };
  };
  console.log(`\nratios paired by round (median of the per-round ratios; each round's in brackets)\n`);
  console.log(`| scenario | req/s ÷ (a) (goal ≥ 0.9) | req/s ÷ (d) (goal ≥ 2) | p99 ÷ (a) p99 (goal ≤ 1.2) |`);
  console.log(`|---|---:|---:|---:|`);
  for (const t of [b, c]) {
    const vsHot = paired(t, a, "rps");
    const vsNaive = paired(t, d, "rps");
    const tail = paired(t, a, "p99");
    const cell = (r, ok) => `${f2(r.value)} ${mark(ok)} (${r.rounds})`;
    console.log(
      `| ${t.name} | ${cell(vsHot, vsHot.value >= 0.9)} | ${cell(vsNaive, vsNaive.value >= 2)} | ${cell(tail, tail.value <= 1.2)} |`,
    );
  }
  const dHot = paired(d, a, "rps");
  const dTail = paired(d, a, "p99");
  console.log(`| ${d.name} | ${f2(dHot.value)} (${dHot.rounds}) | | ${f2(dTail.value)} (${dTail.rounds}) |`);

  console.log(`\n(a)/health     = ${f2(paired(a, health, "rps").value)}   (goal ≥ 0.95)`);
  console.log(`(a)/no-cache   = ${f2(paired(a, naive1, "rps").value)}   (goal ≥ 2; one key each)`);
  console.log(
    `noble/subtle   = ${f2(paired(noble, subtle, "rps").value)}   (throughput of 200 hashes per request; > 1 means noble is faster)`,
  );
  console.log(`bundle         = ${(size.gz / 1024).toFixed(1)} KiB gzip (${(size.raw / 1024).toFixed(1)} KiB raw; goal ≤ 200 KiB gzip)`);
  if (profile) printProfile(profile);
  // Start-up: wrangler check startup (median) and the first response of a freshly started worker.
  if (ONLY === null) await (await import("./bench/cold-start.mjs")).printStartupFigures();
}

runMain(main);
