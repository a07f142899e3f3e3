import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { hashKey } from "../../../src/keys/format/hash";
import { kvKey } from "../../../src/keys/verify/kv-copy";
import { fetchWith } from "../../support/bindings";
import { createGuardedKey, type KeyRecord, rateHeaders } from "../../support/guard-keys";
import { call, freshWs, problem, session } from "../../support/helpers";
import { freshIsolate } from "../../support/isolate";

/** IP allowlists per key, end to end: stored on create, enforced on every call from CF-Connecting-IP. */

const from = (key: string, ip: string | undefined, extra: Record<string, string> = {}) =>
  call("GET", "/v1/key", { token: key, headers: ip === undefined ? extra : { "CF-Connecting-IP": ip, ...extra } });

describe("create with an IP allowlist", () => {
  it("stores the list normalised (bare addresses as /32 and /128, host bits cleared, mapped as IPv4, RFC 5952, duplicates once)", async () => {
    const admin = await session(freshWs());
    const k = await createGuardedKey(admin, {
      ipAllowlist: [
        "203.0.113.7",
        "10.1.2.3/8",
        "2001:DB8:0:0::1",
        "2001:db8:abcd::/32",
        "::ffff:192.0.2.0/120",
        " 198.51.100.0/24 ",
        "10.0.0.0/8",
      ],
    });
    const expected = ["203.0.113.7/32", "10.0.0.0/8", "2001:db8::1/128", "2001:db8::/32", "192.0.2.0/24", "198.51.100.0/24"];
    expect(k.ipAllowlist).toEqual(expected);
    const got = await call("GET", `/v1/api-keys/${k.id}`, { token: admin });
    expect(((await got.json()) as KeyRecord).ipAllowlist).toEqual(expected);
  });

  it("defaults to [] (any address), and takes [] explicitly", async () => {
    const admin = await session(freshWs());
    expect((await createGuardedKey(admin)).ipAllowlist).toEqual([]);
    const open = await createGuardedKey(admin, { ipAllowlist: [] });
    expect(open.ipAllowlist).toEqual([]);
    expect((await from(open.key, "192.0.2.1")).status).toBe(200);
    expect((await from(open.key, undefined)).status).toBe(200);
  });

  it("refuses a bad entry with 400, naming it by index, and creates nothing", async () => {
    const admin = await session(freshWs());
    const cases: [unknown, string][] = [
      [["203.0.113.7", "not-an-ip"], "ipAllowlist.1"],
      [["203.0.113.0/33"], "ipAllowlist.0"],
      [["10.0.0.1", "2001:db8::/129"], "ipAllowlist.1"],
      [["010.0.0.1"], "ipAllowlist.0"], // octal-looking: ambiguous, refused
      [["fe80::1%eth0"], "ipAllowlist.0"], // zone ids mean nothing for a remote client
      [["1.2.3.4/08"], "ipAllowlist.0"],
      [[42], "ipAllowlist.0"],
      [Array.from({ length: 21 }, (_, i) => `10.0.0.${i}`), "ipAllowlist"],
      ["203.0.113.7", "ipAllowlist"],
    ];
    for (const [ipAllowlist, path] of cases) {
      const res = await call("POST", "/v1/api-keys", { token: admin, body: { name: "bad list", scopes: ["sources:read"], ipAllowlist } });
      const label = JSON.stringify(ipAllowlist).slice(0, 60);
      expect(res.status, label).toBe(400);
      const body = await problem(res);
      expect(body.code, label).toBe("invalid_request");
      expect(
        body.errors?.map((e) => e.path),
        label,
      ).toContain(path);
    }
    const listed = (await (await call("GET", "/v1/api-keys", { token: admin })).json()) as { data: unknown[] };
    expect(listed.data).toEqual([]);
  });

  it("takes 20 entries", async () => {
    const admin = await session(freshWs());
    const k = await createGuardedKey(admin, { ipAllowlist: Array.from({ length: 20 }, (_, i) => `10.0.${i}.0/24`) });
    expect(k.ipAllowlist).toHaveLength(20);
    expect((await from(k.key, "10.0.19.200")).status).toBe(200);
    expect((await from(k.key, "10.0.20.1")).status).toBe(403);
  });
});

describe("enforcement: the caller's CF-Connecting-IP must be in the list", () => {
  // [allowlist, client address (undefined: no header), allowed?]
  const MATRIX: [string[], string | undefined, boolean][] = [
    // IPv4 network
    [["203.0.113.0/24"], "203.0.113.7", true],
    [["203.0.113.0/24"], "203.0.113.0", true],
    [["203.0.113.0/24"], "203.0.113.255", true],
    [["203.0.113.0/24"], "203.0.114.0", false],
    [["203.0.113.0/24"], "203.0.112.255", false],
    // IPv4-mapped IPv6 clients are IPv4 clients, in both spellings
    [["203.0.113.0/24"], "::ffff:203.0.113.7", true],
    [["203.0.113.0/24"], "::FFFF:cb00:7107", true],
    [["203.0.113.0/24"], "::ffff:203.0.114.7", false],
    // an IPv6 client never matches an IPv4 entry
    [["203.0.113.0/24"], "2001:db8::cb00:7107", false],
    // a bare address is a /32
    [["198.51.100.7"], "198.51.100.7", true],
    [["198.51.100.7"], "198.51.100.8", false],
    [["198.51.100.7/32"], "198.51.100.6", false],
    // /0: every IPv4 client, mapped ones too, but no IPv6 client
    [["0.0.0.0/0"], "192.0.2.1", true],
    [["0.0.0.0/0"], "255.255.255.255", true],
    [["0.0.0.0/0"], "::ffff:192.0.2.1", true],
    [["0.0.0.0/0"], "2001:db8::1", false],
    // IPv6 networks, any spelling of the client
    [["2001:db8::/32"], "2001:db8:abcd:12::1", true],
    [["2001:db8::/32"], "2001:DB8::1", true],
    [["2001:db8::/32"], "2001:0db8:0000:0000:0000:0000:0000:0001", true],
    [["2001:db8::/32"], "2001:db9::1", false],
    [["2001:db8::/32"], "203.0.113.7", false],
    // /128 and bare IPv6
    [["2001:db8::1/128"], "2001:db8:0:0::1", true],
    [["2001:db8::1"], "2001:db8::1", true],
    [["2001:db8::1"], "2001:db8::2", false],
    // ::/0 is every IPv6 client; IPv4 clients (mapped or not) are IPv4
    [["::/0"], "2001:db8::1", true],
    [["::/0"], "::1", true],
    [["::/0"], "192.0.2.1", false],
    [["::/0"], "::ffff:192.0.2.1", false],
    // a mapped range is stored as IPv4 and matches both spellings
    [["::ffff:10.0.0.0/104"], "10.200.0.1", true],
    [["::ffff:10.0.0.0/104"], "::ffff:10.200.0.1", true],
    [["::ffff:10.0.0.0/104"], "11.0.0.1", false],
    // mixed lists: any entry
    [["192.0.2.0/24", "2001:db8::/48"], "2001:db8:0:ffff::1", true],
    [["192.0.2.0/24", "2001:db8::/48"], "192.0.2.99", true],
    [["192.0.2.0/24", "2001:db8::/48"], "2001:db8:1::1", false],
    // a missing or malformed header never matches a non-empty list
    [["0.0.0.0/0"], undefined, false],
    [["0.0.0.0/0", "::/0"], "", false],
    [["0.0.0.0/0", "::/0"], "unknown", false],
    [["0.0.0.0/0", "::/0"], "192.0.2.1, 198.51.100.1", false],
    [["0.0.0.0/0", "::/0"], "[2001:db8::1]", false],
    [["0.0.0.0/0", "::/0"], "fe80::1%eth0", false],
  ];

  it("allows exactly the addresses inside the list (v4, v6, mapped, /0, /32, /128, missing)", async () => {
    const admin = await session(freshWs());
    const keys = new Map<string, string>();
    for (const [list] of MATRIX) {
      const id = JSON.stringify(list);
      if (!keys.has(id)) keys.set(id, (await createGuardedKey(admin, { ipAllowlist: list })).key);
    }
    for (const [list, ip, allowed] of MATRIX) {
      const res = await from(keys.get(JSON.stringify(list))!, ip);
      const label = `${JSON.stringify(list)} from ${JSON.stringify(ip)}`;
      if (allowed) {
        expect(res.status, label).toBe(200);
      } else {
        expect(res.status, label).toBe(403);
        const body = await problem(res);
        expect(body.code, label).toBe("ip_not_allowed");
        expect(body.title, label).toBe("IP address not allowed");
      }
    }
  });

  it("trusts CF-Connecting-IP only: X-Forwarded-For and X-Real-IP never let a caller in", async () => {
    const admin = await session(freshWs());
    const k = await createGuardedKey(admin, { ipAllowlist: ["203.0.113.7"] });
    const spoof = { "X-Forwarded-For": "203.0.113.7", "X-Real-IP": "203.0.113.7", "True-Client-IP": "203.0.113.7" };
    expect((await problem(await from(k.key, "198.51.100.1", spoof))).code).toBe("ip_not_allowed");
    expect((await problem(await from(k.key, undefined, spoof))).code).toBe("ip_not_allowed");
    expect((await from(k.key, "203.0.113.7", { "X-Forwarded-For": "198.51.100.1" })).status).toBe(200);
  });

  it("applies on every key route, before the scope check", async () => {
    const admin = await session(freshWs());
    const k = await createGuardedKey(admin, { scopes: ["sources:read"], ipAllowlist: ["203.0.113.0/24"] });
    const outside = { "CF-Connecting-IP": "198.51.100.1" };
    const inside = { "CF-Connecting-IP": "203.0.113.1" };
    for (const [method, path, body] of [
      ["GET", "/v1/sources"],
      ["GET", "/v1/sources/src_nope"],
      ["POST", "/v1/sources", { name: "x", type: "text", content: "y" }],
      ["DELETE", "/v1/sources/src_nope"],
    ] as [string, string, unknown?][]) {
      const res = await call(method, path, { token: k.key, headers: outside, body });
      expect((await problem(res)).code, `${method} ${path}`).toBe("ip_not_allowed");
    }
    expect((await call("GET", "/v1/sources", { token: k.key, headers: inside })).status).toBe(200);
    expect(
      (await problem(await call("POST", "/v1/sources", { token: k.key, headers: inside, body: { name: "x", type: "text", content: "y" } })))
        .code,
    ).toBe("insufficient_scope");
  });

  it("comes after the key's state: a revoked key is 401 revoked_api_key from anywhere", async () => {
    const admin = await session(freshWs());
    const k = await createGuardedKey(admin, { ipAllowlist: ["203.0.113.7"] });
    expect((await call("POST", `/v1/api-keys/${k.id}/revoke`, { token: admin })).status).toBe(200);
    for (const ip of ["203.0.113.7", "198.51.100.1", undefined]) {
      const res = await from(k.key, ip);
      expect(res.status).toBe(401);
      expect((await problem(res)).code).toBe("revoked_api_key");
    }
  });

  it("a refused call is not a use: lastUsedAt and lastUsedIp show only calls from inside the list", async () => {
    const admin = await session(freshWs());
    const k = await createGuardedKey(admin, { ipAllowlist: ["203.0.113.0/24"] });
    const outside = await fetchWith({}, "GET", "/v1/key", { token: k.key, headers: { "CF-Connecting-IP": "198.51.100.66" } });
    expect(outside.status).toBe(403);
    let record = (await (await call("GET", `/v1/api-keys/${k.id}`, { token: admin })).json()) as KeyRecord;
    expect(record.lastUsedAt).toBeNull();
    expect(record.lastUsedIp).toBeNull();

    expect((await fetchWith({}, "GET", "/v1/key", { token: k.key, headers: { "CF-Connecting-IP": "203.0.113.9" } })).status).toBe(200);
    record = (await (await call("GET", `/v1/api-keys/${k.id}`, { token: admin })).json()) as KeyRecord;
    expect(record.lastUsedIp).toBe("203.0.113.9");
    expect(record.lastUsedAt).not.toBeNull();
  });

  it("an ip_not_allowed answer carries no RateLimit headers, even for a key with a limit", async () => {
    const admin = await session(freshWs());
    const k = await createGuardedKey(admin, { ipAllowlist: ["203.0.113.7"], rateLimit: { limit: 10, periodSeconds: 60 } });
    const refused = await from(k.key, "198.51.100.1");
    expect(refused.status).toBe(403);
    expect(rateHeaders(refused)).toEqual({ policy: null, rate: null, retryAfter: null });
    const allowed = await from(k.key, "203.0.113.7");
    expect(allowed.status).toBe(200);
    expect(rateHeaders(allowed).policy).toBe('"key";q=10;w=60');
  });

  it("is enforced by a cold isolate too (the list travels with the key through KV and D1)", async () => {
    const admin = await session(freshWs());
    const k = await createGuardedKey(admin, { ipAllowlist: ["2001:db8::/32"] });
    freshIsolate();
    expect((await from(k.key, "2001:db8::5")).status).toBe(200);
    expect((await problem(await from(k.key, "203.0.113.7"))).code).toBe("ip_not_allowed");
    // And from D1 alone.
    await env.KEY_CACHE.delete(kvKey(hashKey(k.key)));
    freshIsolate();
    expect((await problem(await from(k.key, "203.0.113.7"))).code).toBe("ip_not_allowed");
    expect((await from(k.key, "2001:db8::5")).status).toBe(200);
  });

  it("fails closed with 503 when a stored list cannot be read (damaged data), never letting the call through", async () => {
    const admin = await session(freshWs());
    const k = await createGuardedKey(admin, { ipAllowlist: ["203.0.113.7"] });
    await env.DB.prepare("UPDATE api_keys SET ip_allowlist = ? WHERE id = ?")
      .bind(JSON.stringify(["203.0.113.7", "not a cidr"]), k.id)
      .run();
    await env.KEY_CACHE.delete(kvKey(hashKey(k.key)));
    freshIsolate();
    for (const ip of ["203.0.113.7", "198.51.100.1"]) {
      const res = await from(k.key, ip);
      expect(res.status, ip).toBe(503);
      expect((await problem(res)).code).toBe("unavailable");
    }
  });
});
