import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { WindowRateLimiter } from "../src/ratelimit/limiter";
import type { KeyRateLimiter } from "../src/ratelimit/types";
import { createGuardedKey, type KeyRecord, rateHeaders } from "./guard-keys";
import { call, freshWs, problem, session } from "./helpers";
import { buildRequest, Isolate, isolate } from "./isolate";
import { counted } from "./worker";

/**
 * Per-key rate limits through the whole app: what create stores, what each
 * answer says, what counts. Time is controlled: Date is faked at a window
 * start a day ahead (so the RateLimitCounter objects' own clean-up, which may
 * read the real clock, never touches these windows).
 */

afterEach(() => vi.useRealTimers());

/** Fakes Date at `offsetMs` into a window of `periodSeconds` that starts a day from now; returns the window's start. */
function atWindow(periodSeconds: number, offsetMs = 0): number {
  const p = periodSeconds * 1000;
  const start = Math.ceil((Date.now() + 86_400_000) / p) * p;
  vi.useFakeTimers({ toFake: ["Date"], now: start + offsetMs });
  return start;
}

const use = (key: string, headers: Record<string, string> = {}) => call("GET", "/v1/key", { token: key, headers });

describe("create with a rate limit", () => {
  it("stores {limit, periodSeconds} and returns it in the record; omitted or null is no limit", async () => {
    const admin = await session(freshWs());
    const k = await createGuardedKey(admin, { rateLimit: { limit: 100, periodSeconds: 60 } });
    expect(k.rateLimit).toEqual({ limit: 100, periodSeconds: 60 });
    expect(((await (await call("GET", `/v1/api-keys/${k.id}`, { token: admin })).json()) as KeyRecord).rateLimit).toEqual({
      limit: 100,
      periodSeconds: 60,
    });
    expect((await createGuardedKey(admin)).rateLimit).toBeNull();
    expect((await createGuardedKey(admin, { rateLimit: null })).rateLimit).toBeNull();
    // The bounds themselves are allowed.
    expect((await createGuardedKey(admin, { rateLimit: { limit: 1, periodSeconds: 1 } })).rateLimit).toEqual({
      limit: 1,
      periodSeconds: 1,
    });
    expect((await createGuardedKey(admin, { rateLimit: { limit: 100_000, periodSeconds: 3600 } })).rateLimit).toEqual({
      limit: 100_000,
      periodSeconds: 3600,
    });
  });

  it("refuses limits out of range or of the wrong shape with 400, naming the field", async () => {
    const admin = await session(freshWs());
    const cases: [unknown, string][] = [
      [{ limit: 0, periodSeconds: 60 }, "rateLimit.limit"],
      [{ limit: 100_001, periodSeconds: 60 }, "rateLimit.limit"],
      [{ limit: 1.5, periodSeconds: 60 }, "rateLimit.limit"],
      [{ limit: "10", periodSeconds: 60 }, "rateLimit.limit"],
      [{ limit: 10, periodSeconds: 0 }, "rateLimit.periodSeconds"],
      [{ limit: 10, periodSeconds: 3601 }, "rateLimit.periodSeconds"],
      [{ limit: 10 }, "rateLimit.periodSeconds"],
      [{ periodSeconds: 60 }, "rateLimit.limit"],
      ["100/min", "rateLimit"],
      [[100, 60], "rateLimit"],
    ];
    for (const [rateLimit, path] of cases) {
      const res = await call("POST", "/v1/api-keys", { token: admin, body: { name: "bad limit", scopes: ["sources:read"], rateLimit } });
      expect(res.status, JSON.stringify(rateLimit)).toBe(400);
      expect(
        (await problem(res)).errors?.map((e) => e.path),
        JSON.stringify(rateLimit),
      ).toContain(path);
    }
    expect(((await (await call("GET", "/v1/api-keys", { token: admin })).json()) as { data: unknown[] }).data).toEqual([]);
  });
});

describe("one isolate: the limit is exact", () => {
  it("allows exactly `limit` calls per window, with r and t on each, then 429 with Retry-After until the window ends", async () => {
    const start = atWindow(60, 1_000);
    const admin = await session(freshWs());
    const k = await createGuardedKey(admin, { rateLimit: { limit: 5, periodSeconds: 60 } });

    for (let i = 1; i <= 5; i++) {
      const res = await use(k.key);
      expect(res.status, `call ${i}`).toBe(200);
      expect(rateHeaders(res), `call ${i}`).toEqual({ policy: '"key";q=5;w=60', rate: `"key";r=${5 - i};t=59`, retryAfter: null });
    }
    const refused = await use(k.key);
    expect(refused.status).toBe(429);
    const body = await problem(refused);
    expect(body).toMatchObject({ code: "rate_limited", status: 429, title: "Rate limit exceeded" });
    expect(body.detail).toContain("5 calls per 60 seconds");
    expect(rateHeaders(refused)).toEqual({ policy: '"key";q=5;w=60', rate: '"key";r=0;t=59', retryAfter: "59" });

    // Later in the same window: still refused, and t / Retry-After count down (rounded up).
    vi.setSystemTime(start + 30_500);
    const later = await use(k.key);
    expect(later.status).toBe(429);
    expect(rateHeaders(later)).toEqual({ policy: '"key";q=5;w=60', rate: '"key";r=0;t=30', retryAfter: "30" });

    vi.setSystemTime(start + 59_999);
    expect(rateHeaders(await use(k.key)).retryAfter).toBe("1");

    // The next window starts from zero, however many calls were refused in this one.
    vi.setSystemTime(start + 60_000);
    for (let i = 1; i <= 5; i++) {
      const res = await use(k.key);
      expect(res.status, `next window, call ${i}`).toBe(200);
      expect(rateHeaders(res).rate).toBe(`"key";r=${5 - i};t=60`);
    }
    expect((await use(k.key)).status).toBe(429);
  });

  it("a one-second window resets every second", async () => {
    const start = atWindow(1);
    const admin = await session(freshWs());
    const k = await createGuardedKey(admin, { rateLimit: { limit: 2, periodSeconds: 1 } });
    for (let second = 0; second < 3; second++) {
      vi.setSystemTime(start + second * 1000 + 10);
      expect((await use(k.key)).status).toBe(200);
      expect((await use(k.key)).status).toBe(200);
      const refused = await use(k.key);
      expect(refused.status).toBe(429);
      expect(rateHeaders(refused).retryAfter).toBe("1");
    }
  });

  it("counts each key on its own", async () => {
    atWindow(60, 5_000);
    const admin = await session(freshWs());
    const a = await createGuardedKey(admin, { rateLimit: { limit: 1, periodSeconds: 60 } });
    const b = await createGuardedKey(admin, { rateLimit: { limit: 1, periodSeconds: 60 } });
    expect((await use(a.key)).status).toBe(200);
    expect((await use(a.key)).status).toBe(429);
    expect((await use(b.key)).status).toBe(200);
    expect((await use(b.key)).status).toBe(429);
  });
});

describe("what counts, and which answers carry the headers", () => {
  it("every authenticated call counts and carries the headers: 200, 403 insufficient_scope, 404, 400 and the 429 itself", async () => {
    atWindow(60, 2_000);
    const admin = await session(freshWs());
    const k = await createGuardedKey(admin, { scopes: ["sources:read"], rateLimit: { limit: 4, periodSeconds: 60 } });
    const steps: [string, string, unknown, number, string | null][] = [
      ["GET", "/v1/key", undefined, 200, null],
      ["POST", "/v1/sources", { name: "x", type: "text", content: "y" }, 403, "insufficient_scope"],
      ["GET", "/v1/sources/src_doesnotexist", undefined, 404, "not_found"],
      ["GET", "/v1/sources?limit=0", undefined, 400, "invalid_request"],
      ["GET", "/v1/key", undefined, 429, "rate_limited"],
      // Over the limit the call is refused before its scope is looked at.
      ["POST", "/v1/sources", { name: "x", type: "text", content: "y" }, 429, "rate_limited"],
    ];
    let remaining = 4;
    for (const [method, path, body, status, code] of steps) {
      const res = await call(method, path, { token: k.key, body });
      const label = `${method} ${path}`;
      expect(res.status, label).toBe(status);
      if (code) expect((await problem(res)).code, label).toBe(code);
      remaining = Math.max(0, remaining - 1);
      expect(rateHeaders(res), label).toEqual({
        policy: '"key";q=4;w=60',
        rate: `"key";r=${remaining};t=58`,
        retryAfter: status === 429 ? "58" : null,
      });
    }
  });

  it("calls refused by the key's IP allowlist do not count (nor carry the headers)", async () => {
    atWindow(60, 1_000);
    const admin = await session(freshWs());
    const k = await createGuardedKey(admin, { ipAllowlist: ["203.0.113.0/24"], rateLimit: { limit: 2, periodSeconds: 60 } });
    for (let i = 0; i < 5; i++) {
      const res = await use(k.key, { "CF-Connecting-IP": "198.51.100.1" });
      expect((await problem(res)).code).toBe("ip_not_allowed");
      expect(rateHeaders(res)).toEqual({ policy: null, rate: null, retryAfter: null });
    }
    const inside = { "CF-Connecting-IP": "203.0.113.5" };
    expect(rateHeaders(await use(k.key, inside)).rate).toBe('"key";r=1;t=59');
    expect(rateHeaders(await use(k.key, inside)).rate).toBe('"key";r=0;t=59');
    expect((await use(k.key, inside)).status).toBe(429);
  });

  it("401s never reach the limiter: a revoked key gets no RateLimit headers", async () => {
    atWindow(60, 1_000);
    const admin = await session(freshWs());
    const k = await createGuardedKey(admin, { rateLimit: { limit: 2, periodSeconds: 60 } });
    expect((await call("POST", `/v1/api-keys/${k.id}/revoke`, { token: admin })).status).toBe(200);
    const res = await use(k.key);
    expect((await problem(res)).code).toBe("revoked_api_key");
    expect(rateHeaders(res)).toEqual({ policy: null, rate: null, retryAfter: null });
  });

  it("a key without a limit gets no RateLimit headers on any answer", async () => {
    const admin = await session(freshWs());
    const k = await createGuardedKey(admin, { scopes: ["sources:read"] });
    for (let i = 0; i < 5; i++) expect(rateHeaders(await use(k.key))).toEqual({ policy: null, rate: null, retryAfter: null });
    const refused = await call("POST", "/v1/sources", { token: k.key, body: { name: "x", type: "text", content: "y" } });
    expect(refused.status).toBe(403);
    expect(rateHeaders(refused)).toEqual({ policy: null, rate: null, retryAfter: null });
  });

  it("a console on an allowed origin can read Retry-After and both RateLimit headers of a 429", async () => {
    atWindow(60, 1_000);
    const admin = await session(freshWs());
    const k = await createGuardedKey(admin, { rateLimit: { limit: 1, periodSeconds: 60 } });
    const console = "https://console.example.com";
    const fromConsole = () =>
      isolate().fetch(new Request("https://owlish.test/v1/key", { headers: { Origin: console, Authorization: `Bearer ${k.key}` } }), {
        CORS_ALLOWED_ORIGINS: console,
      });
    expect((await fromConsole()).status).toBe(200);
    const res = await fromConsole();
    expect(res.status).toBe(429);
    expect(res.headers.get("Access-Control-Allow-Origin")).toBe(console);
    const exposed = (res.headers.get("Access-Control-Expose-Headers") ?? "").toLowerCase().split(/\s*,\s*/);
    expect(exposed).toEqual(expect.arrayContaining(["retry-after", "ratelimit", "ratelimit-policy"]));
    expect(rateHeaders(res)).toEqual({ policy: '"key";q=1;w=60', rate: '"key";r=0;t=59', retryAfter: "59" });
  });
});

describe("across isolates", () => {
  it("an isolate that never saw the key learns the window's total from the counter: overshoot within N + (k - 1)U", async () => {
    const start = atWindow(3600, 1_000);
    const admin = await session(freshWs());
    const k = await createGuardedKey(admin, { rateLimit: { limit: 3, periodSeconds: 3600 } });
    const a = isolate();
    let accepted = 0;
    // Settled: each call's report reaches the key's RateLimitCounter before the next.
    for (let i = 0; i < 3; i++) if ((await a.settled({}, "GET", "/v1/key", { token: k.key })).status === 200) accepted++;
    expect(accepted).toBe(3);

    const b = new Isolate();
    // Its first call is decided before its first report lands (part of R in the bound)...
    const results = [(await b.settled({}, "GET", "/v1/key", { token: k.key })).status];
    for (let i = 0; i < 3; i++) results.push((await b.call("GET", "/v1/key", { token: k.key })).status);
    accepted += results.filter((s) => s === 200).length;
    // ...and once that report is answered, it refuses like the first isolate would.
    expect(results.slice(1)).toEqual([429, 429, 429]);
    // N = 3, k = 2, T = 1, R = 0: U <= max(T, R + 1) + R = 1.
    expect(accepted).toBeLessThanOrEqual(3 + 1);
    // The first isolate, past its limit, refuses too.
    expect((await a.call("GET", "/v1/key", { token: k.key })).status).toBe(429);
    expect(Date.now()).toBe(start + 1_000);
  });
});

describe("keys without a limit pay nothing", () => {
  /** A limiter that records every call, in front of a real one. */
  function spyLimiter() {
    const real = new WindowRateLimiter({ clock: () => Date.now() });
    const takes: string[] = [];
    const limiter: KeyRateLimiter = {
      take: (keyId, policy, ctx, e, now) => {
        takes.push(keyId);
        return real.take(keyId, policy, ctx, e, now);
      },
    };
    return { limiter, takes };
  }

  it("no limiter call and no Durable Object request for an unlimited, unrestricted key; one take per call for a limited one", async () => {
    const admin = await session(freshWs());
    const free = await createGuardedKey(admin);
    const limited = await createGuardedKey(admin, { rateLimit: { limit: 1000, periodSeconds: 60 } });
    const { limiter, takes } = spyLimiter();
    const ns = counted(env.RATE_LIMITS);
    const iso = new Isolate({ limiter });

    for (let i = 0; i < 20; i++) {
      const res = await iso.settled({ RATE_LIMITS: ns.binding }, "GET", "/v1/key", { token: free.key });
      expect(res.status).toBe(200);
      expect(rateHeaders(res).policy).toBeNull();
    }
    expect(takes).toEqual([]);
    expect(ns.calls).toEqual({});

    // The same instruments do see a limited key: one take per call, and its first call's report.
    expect((await iso.settled({ RATE_LIMITS: ns.binding }, "GET", "/v1/key", { token: limited.key })).status).toBe(200);
    for (let i = 0; i < 2; i++)
      expect((await iso.fetch(buildRequest("GET", "/v1/key", { token: limited.key }), { RATE_LIMITS: ns.binding })).status).toBe(200);
    expect(takes).toEqual([limited.id, limited.id, limited.id]);
    expect(ns.calls.get ?? 0).toBeGreaterThanOrEqual(1);
  });

  it("the limiter belongs to the isolate: a fresh isolate starts its own counters", async () => {
    atWindow(60, 1_000);
    const admin = await session(freshWs());
    const k = await createGuardedKey(admin, { rateLimit: { limit: 1, periodSeconds: 60 } });
    const local = new Isolate({ limiter: new WindowRateLimiter({ clock: () => Date.now(), sync: false }) });
    const other = new Isolate({ limiter: new WindowRateLimiter({ clock: () => Date.now(), sync: false }) });
    expect((await local.call("GET", "/v1/key", { token: k.key })).status).toBe(200);
    expect((await local.call("GET", "/v1/key", { token: k.key })).status).toBe(429);
    // Without the counter objects, each isolate enforces alone (the k × N fallback of docs/rate-limits.md).
    expect((await other.call("GET", "/v1/key", { token: k.key })).status).toBe(200);
    expect((await other.call("GET", "/v1/key", { token: k.key })).status).toBe(429);
  });
});

describe("OpenAPI", () => {
  it("declares RateLimit-Policy and RateLimit on every key route's answers but its 401s, and Retry-After on 429", async () => {
    const doc = (await (await call("GET", "/openapi.json")).json()) as {
      paths: Record<
        string,
        Record<string, { security?: Record<string, unknown>[]; responses: Record<string, { headers?: Record<string, unknown> }> }>
      >;
    };
    let keyRoutes = 0;
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        // Self-revocation is the one key route the key's guard rails do not apply to (anyone holding the key may revoke it).
        const isKeyRoute = (op.security ?? []).some((s) => "apiKey" in s) && path !== "/v1/key/revoke";
        for (const [status, response] of Object.entries(op.responses)) {
          const names = Object.keys(response.headers ?? {});
          const label = `${method} ${path} ${status}`;
          if (isKeyRoute && status !== "401") expect(names, label).toEqual(expect.arrayContaining(["RateLimit-Policy", "RateLimit"]));
          else expect(names, label).not.toContain("RateLimit");
          if (status === "429") expect(names, label).toContain("Retry-After");
        }
        if (isKeyRoute) {
          keyRoutes++;
          expect(Object.keys(op.responses), `${method} ${path}`).toEqual(expect.arrayContaining(["403", "429"]));
        }
      }
    }
    expect(keyRoutes).toBeGreaterThanOrEqual(6);
  });
});
