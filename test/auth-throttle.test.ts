import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { clientBucket, isLoopback } from "../src/http/auth-throttle";
import { call, createKey, freshWs, problem, session } from "./helpers";
import { fetchWith } from "./worker";

/**
 * Abuse limits: failed authentication is counted per client IP with
 * the Workers Rate Limiting binding AUTH_FAILURES (Miniflare emulates it from
 * wrangler.toml: 20 per 60 s). Beyond the limit, failures get 429.
 */

const LIMIT = 20; // wrangler.toml [[ratelimits]] AUTH_FAILURES simple.limit
const PERIOD = env.AUTH_FAILURE_PERIOD_SECONDS;

/** A client IP no other test (or test file) uses. */
const freshIp = () => `198.51.${Math.floor(Math.random() * 256)}.${1 + Math.floor(Math.random() * 254)}`;

/**
 * The emulated limiter counts in windows aligned to the clock (like the
 * production one, per location). Start a counting test well inside a window
 * so that it cannot straddle two.
 */
async function freshWindowAhead(ms = 8_000) {
  const periodMs = Number(PERIOD) * 1000;
  const left = periodMs - (Date.now() % periodMs);
  if (left < ms) await new Promise((r) => setTimeout(r, left + 50));
}

const badKey = "sk_live_0000000000000000000000000000000000000";
const useKey = (key: string, ip: string) => call("GET", "/v1/key", { token: key, headers: { "CF-Connecting-IP": ip } });

beforeEach(() => freshWindowAhead());

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

  it("counts every kind of refused credential: bad, revoked and expired keys, bad sessions", async () => {
    const admin = await session(freshWs());
    const revoked = await createKey(admin);
    await call("POST", `/v1/api-keys/${revoked.id}/revoke`, { token: admin });
    const ip = freshIp();
    const failures = [
      () => useKey(badKey, ip),
      () => useKey(revoked.key, ip),
      () => call("GET", "/v1/api-keys", { token: "not.a.jwt", headers: { "CF-Connecting-IP": ip } }),
      () => call("GET", "/v1/audit-events", { token: `${admin}x`, headers: { "CF-Connecting-IP": ip } }),
    ];
    for (let i = 0; i < LIMIT; i++) expect((await failures[i % failures.length]!()).status).toBe(401);
    for (const failure of failures) expect((await failure()).status).toBe(429);
  });

  it("does not count requests without credentials: they stay 401 missing_credentials", async () => {
    const ip = freshIp();
    for (let i = 0; i < LIMIT + 5; i++) {
      const res = await call("GET", "/v1/sources", { headers: { "CF-Connecting-IP": ip } });
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
      expect((await call("DELETE", "/v1/sources/src_x", { token: readOnly.key, headers: { "CF-Connecting-IP": ip } })).status).toBe(403);
    }
    expect((await useKey(badKey, ip)).status).toBe(401);
  });
});

describe("a client presenting a valid key", () => {
  it("is never slowed by other clients' failures, even from the throttled IP itself", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin);
    const attacker = freshIp();
    const honest = freshIp();
    for (let i = 0; i <= LIMIT; i++) await useKey(badKey, attacker);
    expect((await useKey(badKey, attacker)).status).toBe(429);

    const started = Date.now();
    for (let i = 0; i < 10; i++) {
      expect((await useKey(k.key, honest)).status).toBe(200);
      // Behind the same NAT as the attacker: still served.
      expect((await useKey(k.key, attacker)).status).toBe(200);
    }
    expect(Date.now() - started).toBeLessThan(2_000);
    // Another client's own first failure is a plain 401.
    expect((await useKey(badKey, honest)).status).toBe(401);
    // An admin session from the throttled IP works too.
    expect((await call("GET", "/v1/api-keys", { token: admin, headers: { "CF-Connecting-IP": attacker } })).status).toBe(200);
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
      for (let i = 0; i < 30; i++) {
        statuses.push((await call("GET", "/v1/key", { token: "sk_live_made_up", headers: { "CF-Connecting-IP": ip } })).status);
      }
      expect(new Set(statuses)).toEqual(new Set([401]));
    }
    expect([isLoopback("127.9.9.9"), isLoopback("::1"), isLoopback("128.0.0.1"), isLoopback("::2"), isLoopback("2001:db8::1")]).toEqual([
      true, true, false, false, false,
    ]);
  });
});

