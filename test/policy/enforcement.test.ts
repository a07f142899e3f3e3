import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, createKey, freezeClock, freshWs, type KeyRecord, problem, session } from "../support/helpers";
import { seedKeys } from "../support/seed";

/**
 * The key policy where keys are made or changed: create, roll and PATCH obey
 * the workspace's policy of today (422 policy_violation naming each field and
 * rule, nothing written); a missing expiry becomes the longest allowed.
 */

const DAY = 86_400_000;
const OFF = { maxLifetimeDays: null, requireIpAllowlist: false, idleRevokeDays: null };
const ALLOWLIST = ["203.0.113.0/24"];

async function setPolicy(token: string, policy: Partial<typeof OFF> | Record<string, unknown>) {
  const res = await call("PUT", "/v1/key-policy", { token, body: { ...OFF, ...policy } });
  expect(res.status, await res.clone().text()).toBe(200);
}

const create = (token: string, body: Record<string, unknown>) =>
  call("POST", "/v1/api-keys", { token, body: { name: "policed", scopes: ["sources:read"], ...body } });
const roll = (token: string, id: string, body?: unknown) => call("POST", `/v1/api-keys/${id}/roll`, { token, body });
const patch = (token: string, id: string, body: unknown) => call("PATCH", `/v1/api-keys/${id}`, { token, body });

async function created(res: Response): Promise<KeyRecord & { key: string }> {
  expect(res.status, await res.clone().text()).toBe(201);
  return res.json();
}

/** A 422 policy_violation whose errors are exactly `expected` (path and rule), each message naming its rule too. */
async function expectViolation(res: Response, expected: { path: string; rule: string }[]) {
  expect(res.status, await res.clone().text()).toBe(422);
  const body = await problem(res);
  expect(body).toMatchObject({ code: "policy_violation", status: 422, title: "Policy violation" });
  expect(body.errors!.map((e) => ({ path: e.path, rule: e.rule }))).toEqual(expected);
  for (const e of body.errors!) expect(e.message).toContain(`(${e.rule})`);
  return body;
}

const count = async (sql: string, ...binds: unknown[]) =>
  (await env.DB.prepare(sql)
    .bind(...binds)
    .first<{ n: number }>("n"))!;
const iso = (ms: number) => new Date(ms).toISOString();

describe("maxLifetimeDays", () => {
  it("gives a key created without an expiry (or with null) the longest allowed, and the answer shows it", async () => {
    freezeClock(Date.parse("2026-11-26T10:00:00.000Z"));
    const admin = await session(freshWs());
    await setPolicy(admin, { maxLifetimeDays: 90 });
    for (const body of [{}, { expiresAt: null }]) {
      const key = await created(await create(admin, body));
      expect(key.expiresAt).toBe("2027-02-24T10:00:00.000Z");
      expect((await call("GET", `/v1/api-keys/${key.id}`, { token: admin }).then((r) => r.json<KeyRecord>())).expiresAt).toBe(
        key.expiresAt,
      );
    }
  });

  it("takes an expiry exactly at the maximum and refuses one millisecond more, for 1 and 366 days", async () => {
    freezeClock();
    for (const days of [1, 366]) {
      const admin = await session(freshWs());
      await setPolicy(admin, { maxLifetimeDays: days });
      const latest = Date.now() + days * DAY;
      expect((await created(await create(admin, { expiresAt: iso(latest) }))).expiresAt).toBe(iso(latest));
      expect((await created(await create(admin, { expiresAt: iso(latest - 1) }))).expiresAt).toBe(iso(latest - 1));
      const body = await expectViolation(await create(admin, { expiresAt: iso(latest + 1) }), [
        { path: "expiresAt", rule: "maxLifetimeDays" },
      ]);
      expect(body.errors![0]!.message).toContain(`at most ${days} day`);
      expect(body.errors![0]!.message).toContain(iso(latest));
    }
  });

  it("a roll's new key obeys today's policy, not the old key's: its expiry is capped, and filled in when missing", async () => {
    const clock = freezeClock();
    const admin = await session(freshWs());
    const old = await createKey(admin, { name: "before the policy" }); // never expires
    await setPolicy(admin, { maxLifetimeDays: 30 });
    clock.advance(30 * 60_000); // (the session lasts an hour)
    expect((await call("GET", "/v1/key", { token: old.key })).status).toBe(200); // the old key keeps working
    await expectViolation(await roll(admin, old.id, { expiresAt: iso(Date.now() + 30 * DAY + 1) }), [
      { path: "expiresAt", rule: "maxLifetimeDays" },
    ]);
    const rolled = await created(await roll(admin, old.id, { overlapSeconds: 60 }));
    expect(rolled.expiresAt).toBe(iso(Date.now() + 30 * DAY));
    expect(rolled.rolledFrom).toBe(old.id);
  });
});

describe("requireIpAllowlist", () => {
  it("create needs a non-empty allowlist", async () => {
    const admin = await session(freshWs());
    await setPolicy(admin, { requireIpAllowlist: true });
    await expectViolation(await create(admin, {}), [{ path: "ipAllowlist", rule: "requireIpAllowlist" }]);
    await expectViolation(await create(admin, { ipAllowlist: [] }), [{ path: "ipAllowlist", rule: "requireIpAllowlist" }]);
    expect((await created(await create(admin, { ipAllowlist: ALLOWLIST }))).ipAllowlist).toEqual(ALLOWLIST);
  });

  it("PATCH cannot empty the allowlist; other changes to a key made before the policy still go through", async () => {
    const admin = await session(freshWs());
    const restricted = await createKey(admin);
    expect((await patch(admin, restricted.id, { ipAllowlist: ALLOWLIST })).status).toBe(200);
    const open = await createKey(admin, { name: "no allowlist" });
    await setPolicy(admin, { requireIpAllowlist: true });

    await expectViolation(await patch(admin, restricted.id, { ipAllowlist: [] }), [{ path: "ipAllowlist", rule: "requireIpAllowlist" }]);
    // What a PATCH leaves as it is is not judged: a key made before the policy can be renamed, even by a body that
    // repeats its (empty) allowlist, as a form sending the whole state does.
    const renamed = await patch(admin, open.id, { name: "renamed", ipAllowlist: [] });
    expect(renamed.status).toBe(200);
    expect((await renamed.json<KeyRecord>()).ipAllowlist).toEqual([]);
    const narrowed = await patch(admin, restricted.id, { ipAllowlist: ["203.0.113.7"] });
    expect((await narrowed.json<KeyRecord>()).ipAllowlist).toEqual(["203.0.113.7/32"]);
    expect(
      await count("SELECT count(*) AS n FROM audit_events WHERE target_key_id = ? AND action = 'api_key.updated'", restricted.id),
    ).toBe(2);
  });

  it("a key without an allowlist cannot be rolled (its new key would inherit none): nothing is rolled, the old key works on", async () => {
    const admin = await session(freshWs());
    const old = await createKey(admin);
    await setPolicy(admin, { requireIpAllowlist: true });
    const body = await expectViolation(await roll(admin, old.id), [{ path: "ipAllowlist", rule: "requireIpAllowlist" }]);
    expect(body.errors![0]!.message).toContain("inherits this key's IP allowlist");
    expect(await count("SELECT count(*) AS n FROM api_keys WHERE rolled_from = ?", old.id)).toBe(0);
    expect((await call("GET", "/v1/key", { token: old.key })).status).toBe(200);
    // With an allowlist it rolls, and the new key has it.
    expect((await patch(admin, old.id, { ipAllowlist: ALLOWLIST })).status).toBe(200);
    expect((await created(await roll(admin, old.id))).ipAllowlist).toEqual(ALLOWLIST);
  });
});

describe("a request that breaks the policy", () => {
  it("is answered 422 naming every field and rule, and writes nothing: no key, no audit event, no change-log row", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    await setPolicy(admin, { maxLifetimeDays: 7, requireIpAllowlist: true });
    const res = await create(admin, { expiresAt: iso(Date.now() + 8 * DAY) });
    const body = await expectViolation(res, [
      { path: "expiresAt", rule: "maxLifetimeDays" },
      { path: "ipAllowlist", rule: "requireIpAllowlist" },
    ]);
    expect(body.detail).toContain("maxLifetimeDays, requireIpAllowlist");
    expect(res.headers.get("Cache-Control")).toBe("no-store");
    expect(await count("SELECT count(*) AS n FROM api_keys WHERE workspace_id = ?", ws)).toBe(0);
    expect(await count("SELECT count(*) AS n FROM audit_events WHERE workspace_id = ? AND action LIKE 'api_key.%'", ws)).toBe(0);
    expect(await count("SELECT count(*) AS n FROM key_changes WHERE workspace_id = ?", ws)).toBe(0);
  });

  it("is still 404 for an unknown key and 409 for a revoked one: the policy is judged only on a change that could happen", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    const [revoked] = await seedKeys(ws, 1, { revokedAt: Date.now(), revokedBy: "usr_x", revocationReason: "admin" });
    await setPolicy(admin, { requireIpAllowlist: true });
    expect((await roll(admin, "key_nope")).status).toBe(404);
    expect((await patch(admin, "key_nope", { ipAllowlist: [] })).status).toBe(404);
    expect((await roll(admin, revoked!.id)).status).toBe(409);
    expect((await patch(admin, revoked!.id, { ipAllowlist: [] })).status).toBe(409);
  });

  it("never concerns revocation: a key that breaks every rule is revoked as before", async () => {
    const admin = await session(freshWs());
    const key = await createKey(admin);
    await setPolicy(admin, { maxLifetimeDays: 1, requireIpAllowlist: true, idleRevokeDays: 7 });
    expect((await call("POST", `/v1/api-keys/${key.id}/revoke`, { token: admin })).status).toBe(200);
  });
});

describe("isolation", () => {
  it("a policy binds its own workspace only", async () => {
    const strict = await session(freshWs());
    const other = await session(freshWs());
    await setPolicy(strict, { maxLifetimeDays: 1, requireIpAllowlist: true });
    expect((await create(strict, {})).status).toBe(422);
    const free = await created(await create(other, {}));
    expect(free.expiresAt).toBeNull();
    expect((await patch(other, free.id, { ipAllowlist: [] })).status).toBe(200);
    expect((await created(await roll(other, free.id))).expiresAt).toBeNull();
  });
});
