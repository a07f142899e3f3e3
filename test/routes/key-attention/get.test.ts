import { describe, expect, it } from "vitest";
import { call, freezeClock, freshWs, type KeyRecord, session } from "../../support/helpers";
import { seedKeys } from "../../support/seed";
import { insertSignal } from "../../webhooks/support";

/** GET /v1/key-attention: what the console's keys page flags. */

const DAY = 86_400_000;
const NOW = Date.parse("2027-05-10T09:00:00Z");

interface Attention {
  expiring: KeyRecord[];
  usedAfterRevoke: (KeyRecord & { lastPresentedAt: string; lastPresentedIp: string | null; lastPresentedCountry: string | null })[];
  idle: (KeyRecord & { revokeAt: string | null })[];
}

async function attention(token: string): Promise<Attention> {
  const res = await call("GET", "/v1/key-attention", { token });
  expect(res.status).toBe(200);
  return res.json();
}

describe("keys that need attention", () => {
  it("lists active keys expiring within 14 days, soonest first; not later ones, revoked or rolled ones, or another workspace's", async () => {
    freezeClock(NOW);
    const ws = freshWs();
    const [soon] = await seedKeys(ws, 1, { expiresAt: NOW + DAY });
    const [fortnight] = await seedKeys(ws, 1, { expiresAt: NOW + 14 * DAY });
    await seedKeys(ws, 1, { expiresAt: NOW + 14 * DAY + 1 });
    await seedKeys(ws, 1);
    await seedKeys(ws, 1, { expiresAt: NOW - 1 });
    await seedKeys(ws, 1, { expiresAt: NOW + DAY, revokedAt: NOW - DAY, revokedBy: "usr_a", revocationReason: "admin" });
    await seedKeys(ws, 1, { expiresAt: NOW + 3_600_000, rolledTo: "key_successor" });
    await seedKeys(freshWs(), 1, { expiresAt: NOW + DAY });
    const found = await attention(await session(ws));
    expect(found.expiring.map((k) => k.id)).toEqual([soon!.id, fortnight!.id]);
    expect(found.expiring[0]).toMatchObject({ expiresAt: new Date(NOW + DAY).toISOString() });
    expect(JSON.stringify(found)).not.toContain(soon!.key);
  });

  it("lists revoked keys presented in the last 7 days, once each with the latest call; and active keys the idle policy is about to revoke", async () => {
    freezeClock(NOW);
    const ws = freshWs();
    const revoked = { revokedAt: NOW - 10 * DAY, revokedBy: "usr_a", revocationReason: "admin" as const };
    const [presented, stale] = await seedKeys(ws, 2, revoked);
    const [idleKey] = await seedKeys(ws, 1);
    const [idleButRevoked] = await seedKeys(ws, 1, revoked);
    const k = (seeded: { id: string }) => ({ id: seeded.id, workspaceId: ws });
    await insertSignal(
      k(presented!),
      "used_after_revoke",
      `u:${presented!.id}:1`,
      { ip: "198.51.100.1", country: "FR", at: NOW - 3 * DAY },
      NOW - 3 * DAY,
    );
    await insertSignal(
      k(presented!),
      "used_after_revoke",
      `u:${presented!.id}:2`,
      { ip: "203.0.113.9", country: "NL", at: NOW - DAY },
      NOW - DAY,
    );
    await insertSignal(
      k(stale!),
      "used_after_revoke",
      `u:${stale!.id}:1`,
      { ip: "203.0.113.1", country: null, at: NOW - 8 * DAY },
      NOW - 8 * DAY,
    );
    await insertSignal(k(idleKey!), "idle", `i:${idleKey!.id}`, { revokeAt: NOW + 7 * DAY }, NOW - DAY);
    await insertSignal(k(idleButRevoked!), "idle", `i:${idleButRevoked!.id}`, { revokeAt: NOW + 7 * DAY }, NOW - DAY);
    // Another workspace's signals about the same kinds of keys.
    const other = freshWs();
    const [theirs] = await seedKeys(other, 1, revoked);
    await insertSignal(
      { id: theirs!.id, workspaceId: other },
      "used_after_revoke",
      `u:${theirs!.id}`,
      { ip: null, country: null, at: NOW },
      NOW,
    );

    const found = await attention(await session(ws));
    expect(found.usedAfterRevoke).toEqual([
      expect.objectContaining({
        id: presented!.id,
        revokedAt: new Date(NOW - 10 * DAY).toISOString(),
        lastPresentedAt: new Date(NOW - DAY).toISOString(),
        lastPresentedIp: "203.0.113.9",
        lastPresentedCountry: "NL",
      }),
    ]);
    expect(found.idle).toEqual([
      expect.objectContaining({ id: idleKey!.id, revokedAt: null, revokeAt: new Date(NOW + 7 * DAY).toISOString() }),
    ]);
    expect(found.usedAfterRevoke).toHaveLength(1);
    expect(found.expiring).toEqual([]);
  });

  it("is for admins only", async () => {
    const ws = freshWs();
    expect((await call("GET", "/v1/key-attention", { token: await session(ws, "member") })).status).toBe(403);
    expect((await call("GET", "/v1/key-attention")).status).toBe(401);
  });
});
