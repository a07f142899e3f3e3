import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { type AuditEvent, call, createKey, expectInvalid, freezeClock, freshWs, session } from "../support/helpers";
import { seedKeys } from "../support/seed";

/** GET and PUT /v1/key-policy: the rules, their ranges, the dry run, the violations list and the audit event. */

const DAY = 86_400_000;
const OFF = { maxLifetimeDays: null, requireIpAllowlist: false, idleRevokeDays: null };
const FROM = { "CF-Connecting-IP": "198.51.100.4", "User-Agent": "policy-test/1.0" };

interface Violation {
  keyId: string;
  rule: string;
  name: string;
  prefix: string;
  message: string;
}
interface PutResult {
  policy: Record<string, unknown>;
  saved: boolean;
  violations: Violation[];
  violationsTruncated: boolean;
}

const getPolicy = (token: string) => call("GET", "/v1/key-policy", { token });
const putPolicy = (token: string, body: unknown, dryRun?: boolean) =>
  call("PUT", `/v1/key-policy${dryRun === undefined ? "" : `?dryRun=${dryRun}`}`, { token, body, headers: FROM });

async function put(token: string, body: unknown, dryRun?: boolean): Promise<PutResult> {
  const res = await putPolicy(token, body, dryRun);
  expect(res.status, await res.clone().text()).toBe(200);
  return res.json();
}

async function policyEvents(token: string): Promise<AuditEvent[]> {
  const res = await call("GET", "/v1/audit-events?limit=100", { token });
  expect(res.status).toBe(200);
  return (await res.json<{ data: AuditEvent[] }>()).data.filter((e) => e.action === "key_policy.updated");
}

const policyRow = (ws: string) => env.DB.prepare("SELECT * FROM key_policies WHERE workspace_id = ?").bind(ws).first();
const byRule = (result: PutResult, rule: string) => result.violations.filter((v) => v.rule === rule).map((v) => v.keyId);

describe("GET /v1/key-policy", () => {
  it("is every rule off for a workspace that never set one", async () => {
    const res = await getPolicy(await session(freshWs()));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ...OFF, idleRevocationsFrom: null, updatedAt: null, updatedBy: null });
  });

  it("answers what PUT saved, with who saved it and when idle revocations may start", async () => {
    const clock = freezeClock(Date.parse("2026-11-26T10:00:00.000Z"));
    const admin = await session(freshWs(), "admin", "usr_sec");
    await put(admin, { maxLifetimeDays: 90, requireIpAllowlist: true, idleRevokeDays: 180 });
    clock.advance(60_000);
    expect(await (await getPolicy(admin)).json()).toEqual({
      maxLifetimeDays: 90,
      requireIpAllowlist: true,
      idleRevokeDays: 180,
      idleRevocationsFrom: "2026-12-03T10:00:00.000Z",
      updatedAt: "2026-11-26T10:00:00.000Z",
      updatedBy: "usr_sec",
    });
  });
});

describe("PUT /v1/key-policy", () => {
  it("takes each number rule at the edges of its range and refuses one past them with 400 naming the field", async () => {
    const admin = await session(freshWs());
    for (const days of [1, 366]) expect((await put(admin, { ...OFF, maxLifetimeDays: days })).policy.maxLifetimeDays).toBe(days);
    for (const days of [7, 365]) expect((await put(admin, { ...OFF, idleRevokeDays: days })).policy.idleRevokeDays).toBe(days);
    for (const days of [0, 367, 30.5, -1, "90"])
      await expectInvalid(await putPolicy(admin, { ...OFF, maxLifetimeDays: days }), "maxLifetimeDays");
    for (const days of [6, 366, 7.5]) await expectInvalid(await putPolicy(admin, { ...OFF, idleRevokeDays: days }), "idleRevokeDays");
    await expectInvalid(await putPolicy(admin, { ...OFF, requireIpAllowlist: "yes" }), "requireIpAllowlist");
    expect((await (await getPolicy(admin)).json<Record<string, unknown>>()).idleRevokeDays).toBe(365);
  });

  it("takes the whole policy: a rule left out is a 400, not a rule turned off", async () => {
    const admin = await session(freshWs());
    await put(admin, { maxLifetimeDays: 30, requireIpAllowlist: true, idleRevokeDays: null });
    await expectInvalid(await putPolicy(admin, { requireIpAllowlist: true, idleRevokeDays: null }), "maxLifetimeDays");
    await expectInvalid(await putPolicy(admin, { maxLifetimeDays: 30, idleRevokeDays: null }), "requireIpAllowlist");
    await expectInvalid(await putPolicy(admin, OFF, "maybe" as unknown as boolean), "dryRun");
    expect((await (await getPolicy(admin)).json<Record<string, unknown>>()).maxLifetimeDays).toBe(30);
  });

  it("records key_policy.updated with the old and new values, by the admin, from their address, in the same write", async () => {
    const ws = freshWs();
    const admin = await session(ws, "admin", "usr_sec");
    const first = { maxLifetimeDays: 90, requireIpAllowlist: false, idleRevokeDays: null };
    const second = { maxLifetimeDays: 30, requireIpAllowlist: true, idleRevokeDays: 60 };
    expect((await put(admin, first)).saved).toBe(true);
    expect((await put(admin, second)).saved).toBe(true);
    const events = await policyEvents(admin);
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({
      action: "key_policy.updated",
      workspaceId: ws,
      actorId: "usr_sec",
      keyId: null,
      clientIp: "198.51.100.4",
      userAgent: "policy-test/1.0",
      details: { old: first, new: second },
    });
    expect(events[1]!.details).toEqual({ old: OFF, new: first });
    // Not a key's event: the key filter never returns it, whatever id is asked for.
    const filtered = await call("GET", `/v1/audit-events?keyId=${ws}`, { token: admin });
    expect((await filtered.json<{ data: unknown[] }>()).data).toEqual([]);
  });

  it("saving the policy in force writes and records nothing", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    const policy = { maxLifetimeDays: 90, requireIpAllowlist: true, idleRevokeDays: null };
    await put(admin, policy);
    const before = await policyRow(ws);
    const again = await put(admin, policy);
    expect(again.saved).toBe(false);
    expect(again.policy).toMatchObject(policy);
    expect(await policyRow(ws)).toEqual(before);
    expect(await policyEvents(admin)).toHaveLength(1);
    // Nor does saving the default in a workspace that never set one.
    const other = await session(freshWs());
    expect((await put(other, OFF)).saved).toBe(false);
    expect(await policyEvents(other)).toHaveLength(0);
  });

  it("a dry run saves nothing and records nothing, and answers the policy as it would be with the keys that would not comply", async () => {
    const clock = freezeClock();
    const ws = freshWs();
    const admin = await session(ws);
    await put(admin, { maxLifetimeDays: 365, requireIpAllowlist: false, idleRevokeDays: null });
    const before = await policyRow(ws);
    const forever = await createKey(admin, { name: "forever", expiresAt: null }); // 365 days, filled in
    clock.advance(1000);
    const tried = { maxLifetimeDays: 30, requireIpAllowlist: true, idleRevokeDays: 90 };
    const result = await put(admin, tried, true);
    expect(result.saved).toBe(false);
    expect(result.policy).toMatchObject({ ...tried, idleRevocationsFrom: new Date(Date.now() + 7 * DAY).toISOString() });
    expect(byRule(result, "maxLifetimeDays")).toEqual([forever.id]);
    expect(byRule(result, "requireIpAllowlist")).toEqual([forever.id]);
    expect(await policyRow(ws)).toEqual(before);
    expect(await policyEvents(admin)).toHaveLength(1);
    expect(await (await getPolicy(admin)).json()).toMatchObject({ maxLifetimeDays: 365, requireIpAllowlist: false, idleRevokeDays: null });
    // The key made under the old policy is not bound by the one tried.
    expect((await call("GET", "/v1/key", { token: forever.key })).status).toBe(200);
  });

  it("a member gets 403 and changes nothing", async () => {
    const ws = freshWs();
    const res = await putPolicy(await session(ws, "member"), { ...OFF, maxLifetimeDays: 1 });
    expect(res.status).toBe(403);
    expect(await policyRow(ws)).toBeNull();
  });
});

describe("the violations list", () => {
  it("judges total lifetime, creation to expiry: exactly the maximum complies, one millisecond more does not, no expiry does not", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    const now = Date.now();
    const created = now - 10 * DAY;
    const [atMax] = await seedKeys(ws, 1, { createdAt: created, expiresAt: created + 30 * DAY });
    const [over] = await seedKeys(ws, 1, { createdAt: created, expiresAt: created + 30 * DAY + 1 });
    const [never] = await seedKeys(ws, 1, { createdAt: created, expiresAt: null });
    const result = await put(admin, { ...OFF, maxLifetimeDays: 30 }, true);
    expect(byRule(result, "maxLifetimeDays").sort()).toEqual([over!.id, never!.id].sort());
    expect(byRule(result, "maxLifetimeDays")).not.toContain(atMax!.id);
    const said = Object.fromEntries(result.violations.map((v) => [v.keyId, v]));
    expect(said[never!.id]).toMatchObject({ name: "seeded 0", message: expect.stringContaining("Never expires") });
    expect(said[over!.id]!.message).toMatch(/Lives 30 days .*at most 30/);
  });

  it("lists keys without an allowlist, and only keys that work today: not revoked, not expired", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    const [open] = await seedKeys(ws, 1);
    await seedKeys(ws, 1, { ipAllowlist: ["203.0.113.0/24"] });
    await seedKeys(ws, 1, { revokedAt: Date.now() - 1000, revokedBy: "usr_x", revocationReason: "admin" });
    await seedKeys(ws, 1, { expiresAt: Date.now() - 1 });
    const result = await put(admin, { ...OFF, requireIpAllowlist: true }, true);
    expect(result.violations).toEqual([
      { keyId: open!.id, rule: "requireIpAllowlist", name: "seeded 0", prefix: expect.any(String), message: expect.any(String) },
    ]);
  });

  it("lists keys unused long enough for the idle rule to warn them now, longest unused first", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    const now = Date.now();
    // idleRevokeDays 30: warned once unused for 23 days.
    const [neverUsed] = await seedKeys(ws, 1, { createdAt: now - 40 * DAY });
    const [usedLongAgo] = await seedKeys(ws, 1, { createdAt: now - 100 * DAY, lastUsedAt: now - 23 * DAY });
    await seedKeys(ws, 1, { createdAt: now - 100 * DAY, lastUsedAt: now - 23 * DAY + 60_000 });
    await seedKeys(ws, 1, { createdAt: now - 22 * DAY });
    // Expires before it could be revoked: it just expires.
    await seedKeys(ws, 1, { createdAt: now - 40 * DAY, expiresAt: now + 3 * DAY });
    const result = await put(admin, { ...OFF, idleRevokeDays: 30 }, true);
    expect(byRule(result, "idleRevokeDays")).toEqual([neverUsed!.id, usedLongAgo!.id]);
    expect(result.violations[0]!.message).toMatch(/^Never used since its creation on .* \(40 days\): warned now and revoked as idle from/);
  });

  it("never lists another workspace's keys", async () => {
    const ws = freshWs();
    const mine = await seedKeys(ws, 2);
    await seedKeys(freshWs(), 3);
    await seedKeys(freshWs(), 3, { createdAt: Date.now() - 300 * DAY });
    const result = await put(await session(ws), { maxLifetimeDays: 1, requireIpAllowlist: true, idleRevokeDays: 7 });
    const ids = new Set(result.violations.map((v) => v.keyId));
    expect([...ids].sort()).toEqual(mine.map((k) => k.id).sort());
  });

  it("lists at most 500 keys per rule, and says when there were more", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    await seedKeys(ws, 501);
    const result = await put(admin, { ...OFF, requireIpAllowlist: true, maxLifetimeDays: 10 }, true);
    expect(byRule(result, "requireIpAllowlist")).toHaveLength(500);
    expect(byRule(result, "maxLifetimeDays")).toHaveLength(500);
    expect(result.violationsTruncated).toBe(true);
    const some = await put(await session(freshWs()), { ...OFF, requireIpAllowlist: true }, true);
    expect(some.violationsTruncated).toBe(false);
  });
});
