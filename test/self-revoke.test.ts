import { describe, expect, it, vi } from "vitest";
import { createGuardedKey } from "./guard-keys";
import { type AuditEvent, call, createKey, freshWs, type KeyRecord, problem, session } from "./helpers";
import { freshIsolate } from "./isolate";
import { fetchWith, unreachableD1 } from "./worker";

/** POST /v1/key/revoke: a key that may have leaked revokes itself. */

const FROM = { "CF-Connecting-IP": "192.0.2.55", "User-Agent": "leaky-script/2.1" };
const selfRevoke = (key: string) => call("POST", "/v1/key/revoke", { token: key, headers: FROM });
const use = (key: string) => call("GET", "/v1/key", { token: key });

async function expectRefused(res: Response, code: string) {
  expect(res.status).toBe(401);
  expect(res.headers.get("WWW-Authenticate")).toMatch(/^Bearer/);
  expect((await problem(res)).code).toBe(code);
}

async function getKey(admin: string, id: string): Promise<KeyRecord> {
  return (await call("GET", `/v1/api-keys/${id}`, { token: admin })).json();
}

async function auditOf(admin: string, keyId: string): Promise<AuditEvent[]> {
  return (await (await call("GET", `/v1/audit-events?keyId=${keyId}`, { token: admin })).json<{ data: AuditEvent[] }>()).data;
}

describe("a key revoking itself", () => {
  it("answers 200 {id, revokedAt, revocationReason: self}; the key is refused at once in this isolate, then everywhere", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin, { scopes: ["sources:read"] });
    expect((await use(k.key)).status).toBe(200); // warm here

    const before = Date.now();
    const res = await selfRevoke(k.key);
    expect(res.status).toBe(200);
    const body = await res.json<{ id: string; revokedAt: string; revocationReason: string }>();
    expect(Object.keys(body).sort()).toEqual(["id", "revocationReason", "revokedAt"]);
    expect(body).toMatchObject({ id: k.id, revocationReason: "self" });
    expect(Date.parse(body.revokedAt)).toBeGreaterThanOrEqual(before - 1);

    await expectRefused(await use(k.key), "revoked_api_key");
    await expectRefused(await call("GET", "/v1/sources", { token: k.key }), "revoked_api_key");
    freshIsolate(); // a cold isolate of this location reads KV
    await expectRefused(await use(k.key), "revoked_api_key");
  });

  it("the key is its own revoker: revokedBy and the audit actor are its id, details say self", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin);
    expect((await selfRevoke(k.key)).status).toBe(200);

    expect(await getKey(admin, k.id)).toMatchObject({ revokedBy: k.id, revocationReason: "self" });
    const revokes = (await auditOf(admin, k.id)).filter((e) => e.action === "api_key.revoked");
    expect(revokes).toEqual([
      expect.objectContaining({
        actorId: k.id,
        keyId: k.id,
        clientIp: "192.0.2.55",
        userAgent: "leaky-script/2.1",
        details: { reason: "self" },
      }),
    ]);
    // Listed with the revoked keys, like any other revocation.
    const revoked = await (await call("GET", "/v1/api-keys?status=revoked", { token: admin })).json<{ data: KeyRecord[] }>();
    expect(revoked.data.map((r) => r.id)).toEqual([k.id]);
    const active = await (await call("GET", "/v1/api-keys", { token: admin })).json<{ data: KeyRecord[] }>();
    expect(active.data).toEqual([]);
  });

  for (const scope of ["sources:read", "sources:write", "sources:delete"]) {
    it(`needs no scope: a key with only ${scope} can do it`, async () => {
      const admin = await session(freshWs());
      const k = await createKey(admin, { scopes: [scope] });
      expect((await selfRevoke(k.key)).status).toBe(200);
      await expectRefused(await use(k.key), "revoked_api_key");
    });
  }

  it("a second call cannot happen: the revoked key is refused, and nothing changes", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin);
    const first = await (await selfRevoke(k.key)).json<{ revokedAt: string }>();
    await expectRefused(await selfRevoke(k.key), "revoked_api_key");
    freshIsolate();
    await expectRefused(await selfRevoke(k.key), "revoked_api_key");
    expect((await getKey(admin, k.id)).revokedAt).toBe(first.revokedAt);
    expect((await auditOf(admin, k.id)).filter((e) => e.action === "api_key.revoked")).toHaveLength(1);
  });

  it("revokes only the calling key: its workspace's other keys and other workspaces' keys keep working", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    const leaked = await createKey(admin);
    const sibling = await createKey(admin);
    const elsewhere = await createKey(await session(freshWs()));
    expect((await selfRevoke(leaked.key)).status).toBe(200);
    expect((await use(sibling.key)).status).toBe(200);
    expect((await use(elsewhere.key)).status).toBe(200);
  });

  it("an admin's revoke still records revocationReason admin (contrast)", async () => {
    const admin = await session(freshWs(), "admin", "usr_grace");
    const k = await createKey(admin);
    const res = await call("POST", `/v1/api-keys/${k.id}/revoke`, { token: admin });
    expect(await res.json()).toMatchObject({ revokedBy: "usr_grace", revocationReason: "admin" });
    expect((await auditOf(admin, k.id)).find((e) => e.action === "api_key.revoked")?.details).toEqual({ reason: "admin" });
  });
});

describe("who may call it", () => {
  it("not without a key, not with a made-up key, not with an admin session", async () => {
    expect((await problem(await call("POST", "/v1/key/revoke"))).code).toBe("missing_credentials");
    await expectRefused(await call("POST", "/v1/key/revoke", { token: "sk_live_notarealkeyatall" }), "invalid_credentials");
    await expectRefused(await call("POST", "/v1/key/revoke", { token: await session(freshWs()) }), "invalid_credentials");
  });

  it("not with an expired key (it is already dead), and the key stays unrevoked", async () => {
    const admin = await session(freshWs());
    const expiresAt = Date.now() + 60_000;
    const k = await createKey(admin, { expiresAt: new Date(expiresAt).toISOString() });
    vi.useFakeTimers({ toFake: ["Date"], now: expiresAt });
    try {
      await expectRefused(await selfRevoke(k.key), "expired_credentials");
    } finally {
      vi.useRealTimers();
    }
    expect((await getKey(admin, k.id)).revokedAt).toBeNull();
  });
});

describe("whoever holds the key may revoke it", () => {
  it("from outside the key's IP allowlist: the allowlist protects the key, not its revocation", async () => {
    const admin = await session(freshWs());
    const k = await createGuardedKey(admin, { ipAllowlist: ["203.0.113.0/24"] });
    const elsewhere = { "CF-Connecting-IP": "198.51.100.23" };
    expect((await problem(await call("GET", "/v1/key", { token: k.key, headers: elsewhere }))).code).toBe("ip_not_allowed");
    const res = await call("POST", "/v1/key/revoke", { token: k.key, headers: elsewhere });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id: k.id, revocationReason: "self" });
    await expectRefused(await call("GET", "/v1/key", { token: k.key, headers: { "CF-Connecting-IP": "203.0.113.5" } }), "revoked_api_key");
  });

  it("with its rate limit used up, and the revoke is not counted against it", async () => {
    const admin = await session(freshWs());
    const k = await createGuardedKey(admin, { rateLimit: { limit: 2, periodSeconds: 3600 } });
    expect((await use(k.key)).status).toBe(200);
    expect((await use(k.key)).status).toBe(200);
    expect((await use(k.key)).status).toBe(429);
    const res = await selfRevoke(k.key);
    expect(res.status).toBe(200);
    expect(res.headers.get("RateLimit")).toBeNull(); // the call was not counted, so nothing to say about the quota
    await expectRefused(await use(k.key), "revoked_api_key");
  });

  it("is documented so: the route declares neither ip_not_allowed nor rate_limited, nor RateLimit headers", async () => {
    const doc = await (await call("GET", "/openapi.json")).json<{
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    }>();
    const responses = JSON.stringify(doc.paths["/v1/key/revoke"]!.post!.responses);
    expect(responses).toMatch(/"code":"revoked_api_key"/);
    expect(responses).not.toMatch(/"code":"(ip_not_allowed|rate_limited)"|"RateLimit-Policy":/);
  });
});

describe("storage failure", () => {
  it("D1 unreachable after the key verified (from the memo): 503, and the key is not revoked", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin);
    expect((await use(k.key)).status).toBe(200); // in the memo: verification needs no D1
    const res = await fetchWith({ DB: unreachableD1() }, "POST", "/v1/key/revoke", { token: k.key });
    expect(res.status).toBe(503);
    expect((await problem(res)).code).toBe("unavailable");
    expect((await use(k.key)).status).toBe(200);
    expect((await getKey(admin, k.id)).revokedAt).toBeNull();
  });
});
