import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { clientBucket, isLoopback } from "../../src/auth/failed-auth-throttle";
import type { Env } from "../../src/env";
import { fetchWith } from "../support/bindings";
import { call, createKey, freezeClock, freshWs, problem, session, signToken } from "../support/helpers";
import { buildRequest, isolate, type RequestInit } from "../support/isolate";

/**
 * Abuse limits: failed authentication is counted per client IP with the
 * Workers Rate Limiting binding AUTH_FAILURES (wrangler.toml: 20 per 60 s).
 * Beyond the limit, failures get 429.
 *
 * The counting tests use a limiter with the same rule (fixed windows aligned
 * to the epoch) on the test's own clock, so a test never straddles two windows
 * and can move to the next one; one test checks the emulated binding that
 * wrangler.toml configures.
 */

const LIMIT = 20; // wrangler.toml [[ratelimits]] AUTH_FAILURES simple.limit
const PERIOD = env.AUTH_FAILURE_PERIOD_SECONDS;
const PERIOD_MS = Number(PERIOD) * 1000;

let ips = 0;
/** A client IP no other test uses. */
const freshIp = () => `198.51.${Math.floor(ips / 254) % 256}.${1 + (ips++ % 254)}`;

/** A Rate Limiting binding counting like Cloudflare's simple limiter, in epoch-aligned windows of Date.now(). */
function windowLimiter(limit = LIMIT, periodMs = PERIOD_MS): RateLimit {
  const counts = new Map<string, { window: number; n: number }>();
  return {
    async limit({ key }: RateLimitOptions) {
      const window = Math.floor(Date.now() / periodMs);
      const seen = counts.get(key);
      const n = seen?.window === window ? seen.n : 0;
      if (n >= limit) return { success: false };
      counts.set(key, { window, n: n + 1 });
      return { success: true };
    },
  };
}

let limiter: RateLimit;
let clock: ReturnType<typeof freezeClock>;
beforeEach(() => {
  limiter = windowLimiter();
  // The start of the next window: the whole test runs inside it unless it moves on.
  clock = freezeClock(Math.ceil(Date.now() / PERIOD_MS) * PERIOD_MS);
});

/** A request to the test's isolate, counted by the test's limiter. */
const send = (method: string, path: string, init: RequestInit = {}, overrides: Partial<Env> = {}) =>
  isolate().fetch(buildRequest(method, path, init), { AUTH_FAILURES: limiter, ...overrides });

const badKey = "sk_live_0000000000000000000000000000000000000";
const useKey = (key: string, ip: string) => send("GET", "/v1/key", { token: key, headers: { "CF-Connecting-IP": ip } });

describe("failed authentication from one IP", () => {
  it(`is answered 401 ${LIMIT} times, then 429 problem+json with Retry-After`, async () => {
    const ip = freshIp();
    for (let i = 0; i < LIMIT; i++) {
      const res = await useKey(badKey, ip);
      expect(res.status, `failure ${i + 1}`).toBe(401);
    }
    const res = await useKey(badKey, ip);
    expect(res.status).toBe(429);
    expect(res.headers.get("Retry-After")).toBe(PERIOD);
    expect(res.headers.get("X-Request-Id")).toBeTruthy();
    const body = await problem(res);
    expect(body).toMatchObject({ status: 429, code: "too_many_requests", title: "Too many requests" });
    expect(body.detail).toContain(PERIOD);
  });

  it("is counted per period: in the next window the same IP gets a plain 401 again", async () => {
    const ip = freshIp();
    for (let i = 0; i < LIMIT; i++) await useKey(badKey, ip);
    expect((await useKey(badKey, ip)).status).toBe(429);
    clock.advance(PERIOD_MS - 1);
    expect((await useKey(badKey, ip)).status).toBe(429);
    clock.advance(1);
    expect((await problem(await useKey(badKey, ip))).code).toBe("invalid_credentials");
  });

  it("counts every kind of refused credential: bad, revoked and expired keys, bad and expired sessions", async () => {
    const admin = await session(freshWs());
    const revoked = await createKey(admin);
    await call("POST", `/v1/api-keys/${revoked.id}/revoke`, { token: admin });
    const expired = await createKey(admin, { expiresAt: new Date(Date.now() + 1_000).toISOString() });
    const now = Math.floor(Date.now() / 1000);
    const expiredSession = await signToken({ sub: "usr_admin", ws: "ws_x", role: "admin", iat: now - 120, exp: now - 60 });
    clock.advance(1_000); // the key has expired; still the same window
    const ip = freshIp();
    const from = { "CF-Connecting-IP": ip };
    const failures: [string, () => Promise<Response>][] = [
      ["invalid_credentials", () => useKey(badKey, ip)],
      ["revoked_api_key", () => useKey(revoked.key, ip)],
      ["expired_credentials", () => useKey(expired.key, ip)],
      ["invalid_credentials", () => send("GET", "/v1/api-keys", { token: "not.a.jwt", headers: from })],
      ["invalid_credentials", () => send("GET", "/v1/audit-events", { token: `${admin}x`, headers: from })],
      ["expired_credentials", () => send("GET", "/v1/api-keys", { token: expiredSession, headers: from })],
    ];
    // Each kind is refused as itself while under the limit...
    for (let i = 0; i < LIMIT; i++) {
      const [code, failure] = failures[i % failures.length]!;
      expect((await problem(await failure())).code, `failure ${i + 1}`).toBe(code);
    }
    // ...and each one counted: past the limit, every kind is 429.
    for (const [code, failure] of failures) expect((await failure()).status, code).toBe(429);
  });

  it("does not count requests without credentials: they stay 401 missing_credentials", async () => {
    const ip = freshIp();
    for (let i = 0; i < LIMIT + 5; i++) {
      const res = await send("GET", "/v1/sources", { headers: { "CF-Connecting-IP": ip } });
      expect((await problem(res)).code).toBe("missing_credentials");
    }
    expect((await useKey(badKey, ip)).status).toBe(401);
  });

  it("does not count a valid credential used many times", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin);
    const ip = freshIp();
    for (let i = 0; i < LIMIT * 2; i++) expect((await useKey(k.key, ip)).status).toBe(200);
    // 403 (valid key, wrong scope) is not a failed authentication either.
    const readOnly = await createKey(admin, { scopes: ["sources:read"] });
    for (let i = 0; i < LIMIT; i++) {
      expect((await send("DELETE", "/v1/sources/src_x", { token: readOnly.key, headers: { "CF-Connecting-IP": ip } })).status).toBe(403);
    }
    expect((await useKey(badKey, ip)).status).toBe(401);
  });
});

describe("a client presenting a valid credential", () => {
  it("is served (200) while its IP is throttled, and another client's first failure is a plain 401", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin);
    const attacker = freshIp();
    const honest = freshIp();
    for (let i = 0; i <= LIMIT; i++) await useKey(badKey, attacker);
    expect((await useKey(badKey, attacker)).status).toBe(429);

    for (let i = 0; i < 10; i++) {
      expect((await useKey(k.key, honest)).status).toBe(200);
      // Behind the same NAT as the attacker: still served.
      expect((await useKey(k.key, attacker)).status).toBe(200);
    }
    // The attacker's IP is still throttled: the valid calls did not reset it...
    expect((await useKey(badKey, attacker)).status).toBe(429);
    // ...and another client's own first failure is a plain 401.
    expect((await useKey(badKey, honest)).status).toBe(401);
    // An admin session from the throttled IP works too.
    expect((await send("GET", "/v1/api-keys", { token: admin, headers: { "CF-Connecting-IP": attacker } })).status).toBe(200);
  });
});

describe("client identity", () => {
  it("counts an IPv6 /64 as one client", async () => {
    const [g3, g4] = [Math.floor(Math.random() * 0xffff), Math.floor(Math.random() * 0xffff)];
    const prefix = `2001:db8:${g3.toString(16)}:${g4.toString(16)}`;
    const neighbour = `2001:db8:${g3.toString(16)}:${(g4 ^ 1).toString(16)}`;
    for (let i = 0; i < LIMIT; i++) expect((await useKey(badKey, `${prefix}::${(i + 1).toString(16)}`)).status).toBe(401);
    expect((await useKey(badKey, `${prefix}:0:0:0:ffff`)).status).toBe(429);
    // The next /64 is another client.
    expect((await useKey(badKey, `${neighbour}::1`)).status).toBe(401);
  });

  it("normalises addresses into buckets", () => {
    expect(clientBucket("203.0.113.9")).toBe("203.0.113.9");
    expect(clientBucket("2001:DB8:0:1::5")).toBe("2001:db8:0:1::/64");
    expect(clientBucket("2001:db8:0000:0001:ffff:1:2:3")).toBe("2001:db8:0:1::/64");
    expect(clientBucket("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(clientBucket("::1")).toBe("0:0:0:0::/64");
    expect(clientBucket("::ffff:198.51.100.4")).toBe("198.51.100.4");
  });
});

describe("when the limiter itself fails", () => {
  it("still answers the refusal as 401, never 5xx, and a valid key still works", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin);
    const broken = { limit: () => Promise.reject(new Error("rate limiter unavailable")) } as unknown as RateLimit;
    const ip = { "CF-Connecting-IP": freshIp() };
    const bad = await fetchWith({ AUTH_FAILURES: broken }, "GET", "/v1/key", { token: badKey, headers: ip });
    expect(bad.status).toBe(401);
    expect((await problem(bad)).code).toBe("invalid_credentials");
    expect((await fetchWith({ AUTH_FAILURES: broken }, "GET", "/v1/key", { token: k.key, headers: ip })).status).toBe(200);
  });

  it("sends the configured period as Retry-After", async () => {
    const refusing = { limit: async () => ({ success: false }) } as unknown as RateLimit;
    const res = await fetchWith({ AUTH_FAILURES: refusing, AUTH_FAILURE_PERIOD_SECONDS: "10" }, "GET", "/v1/key", {
      token: badKey,
      headers: { "CF-Connecting-IP": freshIp() },
    });
    expect(res.status).toBe(429);
    expect(res.headers.get("Retry-After")).toBe("10");
  });
});

describe("local development", () => {
  it("never throttles loopback clients: wrangler dev answers the documented 401 every time", async () => {
    for (const ip of ["127.0.0.1", "::1", "::ffff:127.0.0.1"]) {
      const statuses = [];
      for (let i = 0; i < LIMIT + 10; i++) statuses.push((await useKey(badKey, ip)).status);
      expect(new Set(statuses)).toEqual(new Set([401]));
    }
    expect([isLoopback("127.9.9.9"), isLoopback("::1"), isLoopback("128.0.0.1"), isLoopback("::2"), isLoopback("2001:db8::1")]).toEqual([
      true,
      true,
      false,
      false,
      false,
    ]);
  });
});

describe("the AUTH_FAILURES binding wrangler.toml configures", () => {
  it(`refuses the failure after the ${LIMIT}th from one IP within its period`, async () => {
    // The emulated binding counts on the real clock, in another isolate: ours must run with it.
    vi.useRealTimers();
    const windowOf = () => Math.floor(Date.now() / PERIOD_MS);
    for (let attempt = 0; attempt < 2; attempt++) {
      const ip = freshIp();
      const started = windowOf();
      const statuses: number[] = [];
      for (let i = 0; i <= LIMIT; i++) {
        statuses.push((await call("GET", "/v1/key", { token: badKey, headers: { "CF-Connecting-IP": ip } })).status);
      }
      // The emulator counts in windows of the real clock; if one ended during
      // the run, its count restarted: run once more inside the new window.
      if (windowOf() !== started) continue;
      expect(statuses).toEqual([...Array(LIMIT).fill(401), 429]);
      return;
    }
    throw new Error("the binding's window rolled over twice in a row");
  });
});
