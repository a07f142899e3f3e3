// `npm run bench`: starts the worker locally as `npm run dev` does, drives it
// with autocannon in alternating rounds, and prints requests/s, p50 and p99
// per target with the ratios key/health and key/no-cache. Also compares
// @noble/hashes with WebCrypto SHA-256 inside workerd and reports the gzip
// size of the deployable bundle.
import { spawn, execFileSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import { bundleSize } from "./bundle-size.mjs";
import { ensureDevVars, wranglerEnv } from "./local-env.mjs";
import { signSession } from "./session-token.mjs";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const WORK = ".bench";
const children = [];

function startWorker(name, port, args) {
  const state = join(WORK, name);
  rmSync(state, { recursive: true, force: true });
  mkdirSync(state, { recursive: true });
  if (!args.includes("--config")) {
    execFileSync("wrangler", ["d1", "migrations", "apply", "DB", "--local", "--persist-to", state], {
      stdio: "ignore",
      env: { ...wranglerEnv, CI: "true" },
    });
  }
  const child = spawn("wrangler", ["dev", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(port + 1000), "--persist-to", state, "--log-level", "warn", ...args], {
    env: wranglerEnv,
    stdio: ["ignore", "ignore", "inherit"],
    detached: true,
  });
  children.push(child);
  return `http://127.0.0.1:${port}`;
}

async function ready(base, path = "/health") {
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(base + path)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${base} did not start`);
}

async function seed(base, token) {
  const post = (path, auth, body) =>
    fetch(base + path, {
      method: "POST",
      headers: { Authorization: `Bearer ${auth}`, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    }).then((r) => r.json());
  const { key } = await post("/v1/api-keys", token, { name: "bench", scopes: ["sources:read", "sources:write"] });
  await post("/v1/sources", key, { name: "bench source", type: "text", content: "hello" });
  return key;
}

function load(url, headers = {}, seconds = SECONDS) {
  return new Promise((resolve, reject) => {
    autocannon({ url, headers, connections: CONNECTIONS, duration: seconds }, (err, r) => {
      if (err) return reject(err);
      const bad = r.non2xx + r.errors + r.timeouts;
      if (bad > 0) return reject(new Error(`${url}: ${bad} failed requests of ${r.requests.total}`));
      resolve({ rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99 });
    });
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const secret = ensureDevVars();
  const token = signSession(secret, { sub: "usr_bench", ws: "ws_bench", role: "admin" });
  // Success logs off for every target alike: wrangler dev streams each log line
  // to this terminal, which would otherwise be half of what is measured.
  const quiet = ["--var", "LOG_SUCCESSES:false"];
  const cached = startWorker("cached", 8911, quiet);
  // The baseline is its own entry point (the same app built from naive parts), with wrangler.toml's bindings.
  const naive = startWorker("no-cache", 8912, ["scripts/bench/naive-worker.ts", ...quiet]);
  const hashes = startWorker("hash", 8913, ["--config", "scripts/bench/hash-worker.toml"]);
  await Promise.all([ready(cached), ready(naive), ready(hashes, "/check")]);
  if ((await (await fetch(`${hashes}/check`)).text()) !== "true") throw new Error("noble and WebCrypto disagree");

  const key = await seed(cached, token);
  const naiveKey = await seed(naive, token);
  const auth = (k) => ({ Authorization: `Bearer ${k}` });
  const targets = [
    { name: "GET /health", url: `${cached}/health`, headers: {} },
    { name: "GET /v1/key (warm key)", url: `${cached}/v1/key`, headers: auth(key) },
    { name: "GET /v1/sources?limit=1 (warm key)", url: `${cached}/v1/sources?limit=1`, headers: auth(key) },
    { name: "GET /v1/key (no cache)", url: `${naive}/v1/key`, headers: auth(naiveKey) },
    { name: "SHA-256 x200 @noble/hashes", url: `${hashes}/noble?n=200`, headers: {} },
    { name: "SHA-256 x200 crypto.subtle", url: `${hashes}/subtle?n=200`, headers: {} },
  ];

  process.stderr.write(`warming up…\n`);
  for (const t of targets) await load(t.url, t.headers, 1);

  const runs = new Map(targets.map((t) => [t.name, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const t of targets) {
      process.stderr.write(`round ${round}/${ROUNDS}: ${t.name}\n`);
      runs.get(t.name).push(await load(t.url, t.headers));
    }
  }

  const rows = targets.map((t) => {
    const r = runs.get(t.name);
    return {
      name: t.name,
      rps: median(r.map((x) => x.rps)),
      p50: median(r.map((x) => x.p50)),
      p99: median(r.map((x) => x.p99)),
      rounds: r.map((x) => x.rps.toFixed(0)).join(" / "),
    };
  });
  const by = Object.fromEntries(rows.map((r) => [r.name, r]));
  const size = bundleSize(join(WORK, "dist"));

  const cpu = cpus()[0]?.model ?? "unknown CPU";
  console.log(`\nowlish keys bench — ${new Date().toISOString()} — ${cpus().length} × ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`);
  console.log(`wrangler dev (LOG_SUCCESSES=false), autocannon, ${CONNECTIONS} connections, ${ROUNDS} alternating rounds of ${SECONDS}s per target, medians\n`);
  console.log(`| target | req/s | p50 ms | p99 ms | req/s per round |`);
  console.log(`|---|---:|---:|---:|---|`);
  for (const r of rows) console.log(`| ${r.name} | ${r.rps.toFixed(0)} | ${r.p50} | ${r.p99} | ${r.rounds} |`);
  const ratio = (a, b) => by[a].rps / by[b].rps;
  const keyHealth = ratio("GET /v1/key (warm key)", "GET /health");
  const keyNoCache = ratio("GET /v1/key (warm key)", "GET /v1/key (no cache)");
  console.log(`\nkey/health   = ${keyHealth.toFixed(2)}   (goal ≥ 0.95)`);
  console.log(`key/no-cache = ${keyNoCache.toFixed(2)}   (goal ≥ 2)`);
  console.log(`noble/subtle = ${ratio("SHA-256 x200 @noble/hashes", "SHA-256 x200 crypto.subtle").toFixed(2)}   (throughput of 200 hashes per request; > 1 means noble is faster)`);
  console.log(`bundle       = ${(size.gz / 1024).toFixed(1)} KiB gzip (${(size.raw / 1024).toFixed(1)} KiB raw; goal ≤ 200 KiB gzip)`);
  await (await import("./bench/cold-start.mjs")).printStartupFigures();
}

function stop() {
  for (const child of children) {
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {}
  }
}
process.on("SIGINT", () => {
  stop();
  process.exit(130);
});
main()
  .then(() => {
    stop();
    process.exit(0);
  })
  .catch((error) => {
    console.error(error);
    stop();
    process.exit(1);
  });
