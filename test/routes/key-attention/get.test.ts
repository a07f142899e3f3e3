import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { idleJob } from "../../../src/policy/idle";
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

  it("lists revoked keys presented in the last 7 days, once each with the latest call", async () => {
    freezeClock(NOW);
    const ws = freshWs();
    const revoked = { revokedAt: NOW - 10 * DAY, revokedBy: "usr_a", revocationReason: "admin" as const };
    const [presented, stale] = await seedKeys(ws, 2, revoked);
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
    expect(found.usedAfterRevoke).toHaveLength(1);
    expect(found.expiring).toEqual([]);
  });

  it("lists the active keys the idle rule has warned, until a key is used or revoked, or the rule is changed", async () => {
    const clock = freezeClock(NOW - 60 * DAY);
    const ws = freshWs();
    const setIdle = async (idleRevokeDays: number) => {
      const body = { maxLifetimeDays: null, requireIpAllowlist: false, idleRevokeDays };
      expect((await call("PUT", "/v1/key-policy", { token: await session(ws), body })).status).toBe(200);
    };
    await setIdle(30);
    const [used, revoked, waiting] = await seedKeys(ws, 3, { createdAt: NOW - 100 * DAY, lastUsedAt: NOW - 25 * DAY });
    // The cron's idle job at NOW, the workspace's pass due: each key, unused for 25 days, is warned.
    clock.advance(NOW - Date.now());
    await env.DB.prepare("UPDATE key_policies SET idle_next_pass_at = ? WHERE workspace_id = ?").bind(NOW, ws).run();
    await idleJob(env, NOW);
    const ids = async () => (await attention(await session(ws))).idle.map((k) => k.id).sort();
    expect(await ids()).toEqual([used!.id, revoked!.id, waiting!.id].sort());
    expect((await attention(await session(ws))).idle[0]).toMatchObject({
      revokedAt: null,
      revokeAt: new Date(NOW + 7 * DAY).toISOString(),
    });

    // One is used (the recorder's flush moves its last use): spared, no longer flagged. One is revoked.
    await env.DB.prepare("UPDATE api_keys SET last_used_at = ? WHERE id = ?")
      .bind(NOW + DAY, used!.id)
      .run();
    expect((await call("POST", `/v1/api-keys/${revoked!.id}/revoke`, { token: await session(ws) })).status).toBe(200);
    expect(await ids()).toEqual([waiting!.id]);

    // The rule changed: the warning was about the old one (the job warns anew, with the new date, at its next pass).
    await setIdle(60);
    expect(await ids()).toEqual([]);
  });

  it("is for admins only", async () => {
    const ws = freshWs();
    expect((await call("GET", "/v1/key-attention", { token: await session(ws, "member") })).status).toBe(403);
    expect((await call("GET", "/v1/key-attention")).status).toBe(401);
  });
});
