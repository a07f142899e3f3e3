// Bench-only worker for `npm run bench:inprocess`: runs one piece of the hot
// path N times inside workerd, with no network and no load generator in the
// way, and answers when done. workerd's clocks do not advance during CPU work
// (Date.now and performance.now only move on I/O), so the driver
// (scripts/bench-inprocess.mjs) times the request from outside and subtracts
// a run of n=0: (T(n) - T(0)) / n is the cost of one iteration.
//
// Variants:
//   app:*    the production entry as src/index.ts assembles it: the edge app (GET /v1/key)
//            handing everything else to the full app (createApp), with CachedKeyStore,
//            CoalescingReporter and WindowRateLimiter, LOG_SUCCESSES=false, called in-process
//            with fetch; the key is warm (remembered before every run: no KV or D1 read is timed)
//   full:*   the full app alone (createApp), as the tests build it
//   layer:*  the same GET /v1/key route in smaller apps, each adding one layer,
//            so differences give the cost of routing, requestContext, CORS, ...
//   part:*   one step of the key middleware or of the response, alone
import { Hono } from "hono";
import { createApp } from "../../src/app";
import { bearerToken } from "../../src/auth/bearer";
import type { Services } from "../../src/context";
import { createEdgeApp } from "../../src/edge";
import type { Env } from "../../src/env";
import { apiCors } from "../../src/http/cors";
import { openApiRouter } from "../../src/http/openapi";
import { requestContext } from "../../src/http/request-context";
import { hashKey } from "../../src/keys/format/hash";
import { generateKey, isWellFormedKey } from "../../src/keys/format/key";
import { CachedKeyStore } from "../../src/keys/verify/cached-key-store";
import type { VerifiedKey } from "../../src/keys/verify/verified-key";
import { log } from "../../src/lib/log";
import { type AppOptions, parseOptions } from "../../src/options";
import { WindowRateLimiter } from "../../src/ratelimit/limiter";
import { OPERATIONS } from "../../src/routes";
import { mount } from "../../src/routes/operation";
import { CoalescingReporter } from "../../src/usage/coalescing-reporter";
import { utcDay } from "../../src/usage/use-reporter";

export { ChangeCourier } from "../../src/delivery/change-courier";
export { RateLimitCounter } from "../../src/ratelimit/counter";
export { LastUsedRecorder } from "../../src/usage/last-used-recorder";

const ORIGIN = "http://bench.local";
const CF = {
  country: "DE",
  colo: "FRA",
  asn: 64500,
  city: "Frankfurt am Main",
  continent: "EU",
  timezone: "Europe/Berlin",
  httpProtocol: "HTTP/2",
  tlsVersion: "TLSv1.3",
};

/** The warm key and what the memo holds for it (random values may only be made inside a handler). */
function benchKey() {
  const key = generateKey();
  const record: VerifiedKey = {
    id: "key_bench0000000000000000000",
    workspaceId: "ws_bench",
    name: "bench",
    prefix: key.slice(0, 12),
    scopes: ["sources:read"],
    expiresAt: null,
    revokedAt: null,
    version: 1,
    budgetId: "key_bench0000000000000000000",
    ipAllowlist: [],
    rateLimit: null,
  };
  const { id, name, prefix, scopes, workspaceId } = record;
  // As Cloudflare's edge hands a request to the worker: the client's address and a cf object.
  const headers = { Authorization: `Bearer ${key}`, "CF-Connecting-IP": "203.0.113.7" };
  return { key, hash: hashKey(key), record, headers, body: { id, name, prefix, scopes, workspaceId, expiresAt: null } };
}

interface Parts extends ReturnType<typeof benchKey> {
  sample: Request;
  options: AppOptions;
  services: Services;
  keys: CachedKeyStore;
  usage: CoalescingReporter;
  apps: Record<string, { fetch: (r: Request, env: Env, ctx: ExecutionContext) => Response | Promise<Response> }>;
}
let parts: Parts | undefined;

function build(env: Env): Parts {
  const k = benchKey();
  const body = k.body;
  const options = { ...parseOptions(env), logSuccesses: false };
  const keys = new CachedKeyStore();
  // The per-request path of report() is production's; only the window is an
  // hour instead of 5 s, so that the one message per window (and the recorder's
  // work on it, in this same workerd) does not land in some later timed run.
  const usage = new CoalescingReporter({ coalesceMs: 3_600_000 });
  // The key has no IP allowlist and no rate limit, as most keys: the limiter is never called.
  const services = { keys, usage, limiter: new WindowRateLimiter() };
  const setParts = (c: { set: (k: "options" | "services", v: never) => void }, next: () => Promise<void>) => {
    c.set("options", options as never);
    c.set("services", services as never);
    return next();
  };

  // Each app below adds one layer to the one before it.
  const bare = new Hono().get("/v1/key", (c) => c.json(body, 200));
  const openapiOnly = openApiRouter();
  openapiOnly.get("/v1/key", (c) => c.json(body, 200));
  const keyRoute = openApiRouter();
  keyRoute.use("*", setParts);
  // GET /v1/key as the full app mounts it (its entry of the route list), alone on a router.
  const callingKeyRoutes = mount(
    openApiRouter(),
    OPERATIONS.filter((op) => op.operationId === "getCallingKey"),
  );
  keyRoute.route("/", callingKeyRoutes);
  const withContext = openApiRouter();
  withContext.use("*", requestContext(options, services));
  withContext.route("/", callingKeyRoutes);
  // requestContext without what it does after next() (response headers, log decision): what that part costs.
  const withContextBefore = openApiRouter();
  withContextBefore.use("*", (c, next) => {
    c.set("requestId", crypto.randomUUID());
    c.set("options", options);
    c.set("services", services);
    return next();
  });
  withContextBefore.route("/", callingKeyRoutes);
  const withCors = openApiRouter();
  withCors.use("*", requestContext(options, services));
  withCors.use("/v1/*", apiCors(options.corsAllowedOrigins));
  withCors.route("/", callingKeyRoutes);

  // As src/index.ts assembles them: the edge app answers GET /v1/key itself
  // and hands every other request to the full app.
  const full = createApp({ options, services });
  const edge = createEdgeApp({ options, services }, () => Promise.resolve(full));
  // The full app plus one /v1 route that needs no key: every layer but requireKey.
  const withPing = createApp({ options, services });
  withPing.get("/v1/ping", (c) => c.json({ status: "ok" as const }, 200));

  return {
    ...k,
    sample: new Request(`${ORIGIN}/v1/key`, { headers: k.headers, cf: CF }),
    options,
    services,
    keys,
    usage,
    apps: { edge, full, withPing, bare, openapiOnly, keyRoute, withContextBefore, withContext, withCors },
  };
}

type Step = (p: Parts, env: Env, ctx: ExecutionContext) => unknown;
const call = (app: string, path: string) => (p: Parts, env: Env, ctx: ExecutionContext) =>
  p.apps[app]!.fetch(new Request(ORIGIN + path, { headers: p.headers, cf: CF }), env, ctx);

const VARIANTS: Record<string, Step> = {
  "app:health": call("edge", "/health"),
  "app:key": call("edge", "/v1/key"),
  "full:health": call("full", "/health"),
  "full:key": call("full", "/v1/key"),
  "full:v1-ping": call("withPing", "/v1/ping"),
  "layer:hono-bare": call("bare", "/v1/key"),
  "layer:openapi-router": call("openapiOnly", "/v1/key"),
  "layer:key-route": call("keyRoute", "/v1/key"),
  "layer:+requestContext-before-next": call("withContextBefore", "/v1/key"),
  "layer:+requestContext": call("withContext", "/v1/key"),
  "layer:+cors": call("withCors", "/v1/key"),
  "part:new-request": (p) => new Request(`${ORIGIN}/v1/key`, { headers: p.headers, cf: CF }),
  "part:bearer": (p) => bearerToken(p.headers.Authorization),
  "part:header-get": (p) => p.sample.headers.get("Authorization"),
  "part:cf-country": (p) => (p.sample as Request & { cf?: { country?: unknown } }).cf?.country,
  "part:well-formed": (p) => isWellFormedKey(p.key),
  "part:hash": (p) => hashKey(p.key),
  "part:memo-find": (p, env, ctx) => p.keys.find(env, p.hash, ctx, `${ORIGIN}/v1/key`),
  "part:report": (p, env, ctx) =>
    p.usage.report(env, ctx, {
      workspaceId: p.record.workspaceId,
      keyId: p.record.id,
      at: Date.now(),
      ip: "203.0.113.7",
      country: "DE",
      outcome: "ok",
      method: "GET",
      path: "/v1/key",
      status: 200,
    }),
  "part:utc-day": () => utcDay(Date.now()),
  "part:json-response": (p) => new Response(JSON.stringify(p.body), { headers: { "Content-Type": "application/json" } }),
  "part:json-response-health": () => new Response(JSON.stringify({ status: "ok" }), { headers: { "Content-Type": "application/json" } }),
  "part:response-headers": (_p) => {
    // What requestContext does to a finished response: three header writes and a read.
    const res = new Response("{}", { headers: { "Content-Type": "application/json" } });
    res.headers.set("X-Request-Id", "6f1c2a9e-4b7d-4e0a-9d3c-2b8f5e7a1c40");
    res.headers.set("X-Content-Type-Options", "nosniff");
    if (!res.headers.has("Cache-Control")) res.headers.set("Cache-Control", "no-store");
    return res;
  },
  "part:response-no-headers": () => new Response("{}", { headers: { "Content-Type": "application/json" } }),
  "part:random-uuid": () => crypto.randomUUID(),
  "part:date-now": () => Date.now(),
  "part:log-line": () =>
    log("info", "request", {
      requestId: "6f1c2a9e-4b7d-4e0a-9d3c-2b8f5e7a1c40",
      method: "GET",
      route: "/v1/key",
      status: 200,
      outcome: "ok",
      keyId: "key_bench0000000000000000000",
      workspaceId: "ws_bench",
      durationMs: 0,
    }),
};

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    parts ??= build(env);
    // Fresh in the memo for every run, so the key path never waits on KV or D1.
    parts.keys.remember(parts.hash, parts.record);
    if (url.pathname === "/variants") return Response.json(Object.keys(VARIANTS));
    if (url.pathname === "/routers") {
      // Which router hono's SmartRouter settled on for each app (known after a first request).
      return Response.json(
        Object.fromEntries(
          Object.entries(parts.apps).map(([name, app]) => [name, (app as unknown as { router: { name: string } }).router.name]),
        ),
      );
    }
    const step = VARIANTS[url.searchParams.get("variant") ?? ""];
    if (!step) return new Response("unknown variant", { status: 404 });
    const n = Math.min(Number(url.searchParams.get("n") ?? "0"), 1_000_000);
    if (url.pathname === "/check") {
      // One call, answered as is: the driver checks the app variants answer 200.
      const out = await step(parts, env, ctx);
      return out instanceof Response ? new Response(await out.text(), { status: out.status }) : new Response(String(out));
    }
    const p = parts;
    for (let i = 0; i < n; i++) {
      const out = step(p, env, ctx);
      if (out instanceof Promise) await out;
    }
    return new Response("ok");
  },
} satisfies ExportedHandler<Env>;
