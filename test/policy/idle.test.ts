import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Env } from "../../src/env";
import worker from "../../src/index";
import { applyRevokes } from "../../src/keys/change";
import { IDLE_PASS_EVERY_MS, idleJob, QUERY_BUDGET } from "../../src/policy/idle";
import { recordingD1 } from "../support/bindings";
import { type AuditEvent, call, freezeClock, freshWs, type KeyRecord, problem, session } from "../support/helpers";
import { seedKeys } from "../support/seed";

/**
 * The idle rule, run by the cron: a key unused for idleRevokeDays (from its
 * last use, or its creation) is warned 7 days ahead (an `idle` signal), then
 * revoked through the write path (reason idle, actor policy); never sooner
 * than 7 days after the rule was set; a key used in between is spared.
 */

const DAY = 86_400_000;
const OFF = { maxLifetimeDays: null, requireIpAllowlist: false, idleRevokeDays: null };

interface Signal {
  key_id: string;
  kind: string;
  dedupe: string;
  at: number;
  data: string;
}

async function setIdle(ws: string, idleRevokeDays: number | null) {
  const res = await call("PUT", "/v1/key-policy", { token: await session(ws), body: { ...OFF, idleRevokeDays } });
  expect(res.status, await res.clone().text()).toBe(200);
}

const signalsOf = async (keyId: string) =>
  (await env.DB.prepare("SELECT * FROM key_signals WHERE key_id = ? AND kind = 'idle' ORDER BY at").bind(keyId).all<Signal>()).results;

async function keyRow(id: string) {
  return (await env.DB.prepare("SELECT * FROM api_keys WHERE id = ?").bind(id).first<Record<string, unknown>>())!;
}

/**
 * Runs the job at `at` (the cron's scheduledTime), the frozen clock moved
 * there, with every workspace's pass due: the job looks at a workspace once an
 * hour, and these tests look at what a pass does at a given moment.
 */
async function runAt(clock: { advance(ms: number): void }, at: number) {
  clock.advance(at - Date.now());
  await env.DB.prepare("UPDATE key_policies SET idle_next_pass_at = ? WHERE idle_revoke_days IS NOT NULL").bind(at).run();
  return idleJob(env, at);
}

/** The key as a recorder flush leaves it after a use at `at`. */
const usedAt = (id: string, at: number) => env.DB.prepare("UPDATE api_keys SET last_used_at = ? WHERE id = ?").bind(at, id).run();

describe("idle revocation", () => {
  it("warns at idleRevokeDays − 7 days, revokes at idleRevokeDays through the write path, in that order", async () => {
    const t0 = Date.parse("2026-01-01T00:00:00.000Z");
    const clock = freezeClock(t0 - 60 * DAY);
    const ws = freshWs();
    await setIdle(ws, 30); // set long before: only the key's own time counts
    const [key] = await seedKeys(ws, 1, { createdAt: t0 - 100 * DAY, lastUsedAt: t0 });

    await runAt(clock, t0 + 23 * DAY - 1);
    expect(await signalsOf(key!.id)).toEqual([]);
    await runAt(clock, t0 + 23 * DAY);
    const [warning] = await signalsOf(key!.id);
    expect(warning).toMatchObject({ kind: "idle", at: t0 + 23 * DAY });
    expect(JSON.parse(warning!.data)).toEqual({
      revokeAt: "2026-01-31T00:00:00.000Z",
      idleSince: "2026-01-01T00:00:00.000Z",
      idleRevokeDays: 30,
    });

    await runAt(clock, t0 + 30 * DAY - 1);
    expect(await keyRow(key!.id)).toMatchObject({ revoked_at: null });
    expect(await signalsOf(key!.id)).toHaveLength(1); // warned once

    await runAt(clock, t0 + 30 * DAY);
    expect(await keyRow(key!.id)).toMatchObject({ revoked_at: t0 + 30 * DAY, revoked_by: "policy", revocation_reason: "idle" });
    const admin = await session(ws);
    const events = (await (await call("GET", `/v1/audit-events?keyId=${key!.id}`, { token: admin })).json<{ data: AuditEvent[] }>()).data;
    expect(events).toEqual([
      expect.objectContaining({
        action: "api_key.revoked",
        actorId: "policy",
        clientIp: null,
        details: { reason: "idle", idleSince: "2026-01-01T00:00:00.000Z", idleRevokeDays: 30 },
      }),
    ]);
    const change = await env.DB.prepare("SELECT kind, actor_id FROM key_changes WHERE key_id = ?").bind(key!.id).first();
    expect(change).toEqual({ kind: "revoked", actor_id: "policy" });
    const record = await (await call("GET", `/v1/api-keys/${key!.id}`, { token: admin })).json<KeyRecord>();
    expect(record).toMatchObject({ revocationReason: "idle", revokedBy: "policy" });
    const refused = await call("GET", "/v1/key", { token: key!.key });
    expect(refused.status).toBe(401);
    expect((await problem(refused)).code).toBe("revoked_api_key");
  });

  it("counts from creation for a key never used", async () => {
    const t0 = Date.parse("2026-03-01T00:00:00.000Z");
    const clock = freezeClock(t0 - 30 * DAY);
    const ws = freshWs();
    await setIdle(ws, 60);
    const [key] = await seedKeys(ws, 1, { createdAt: t0 });
    await runAt(clock, t0 + 53 * DAY - 1);
    expect(await signalsOf(key!.id)).toEqual([]);
    await runAt(clock, t0 + 53 * DAY);
    expect(JSON.parse((await signalsOf(key!.id))[0]!.data)).toMatchObject({ idleSince: new Date(t0).toISOString() });
    await runAt(clock, t0 + 60 * DAY);
    expect(await keyRow(key!.id)).toMatchObject({ revocation_reason: "idle" });
  });

  it("revokes nothing sooner than 7 days after the rule was set, however long a key was unused", async () => {
    const set = Date.parse("2026-05-01T12:00:00.000Z");
    const clock = freezeClock(set);
    const ws = freshWs();
    const [key] = await seedKeys(ws, 1, { createdAt: set - 400 * DAY });
    await setIdle(ws, 7);
    await runAt(clock, set);
    const [warning] = await signalsOf(key!.id);
    expect(JSON.parse(warning!.data).revokeAt).toBe("2026-05-08T12:00:00.000Z");
    await runAt(clock, set + 7 * DAY - 1);
    expect(await keyRow(key!.id)).toMatchObject({ revoked_at: null });
    await runAt(clock, set + 7 * DAY);
    expect(await keyRow(key!.id)).toMatchObject({ revocation_reason: "idle" });
  });

  it("spares a key used during its warning, and warns it afresh only once it is idle again", async () => {
    const t0 = Date.parse("2026-02-01T00:00:00.000Z");
    const clock = freezeClock(t0 - 60 * DAY);
    const ws = freshWs();
    await setIdle(ws, 30);
    const [key] = await seedKeys(ws, 1, { createdAt: t0 - 90 * DAY, lastUsedAt: t0 });
    await runAt(clock, t0 + 23 * DAY);
    expect(await signalsOf(key!.id)).toHaveLength(1);

    await usedAt(key!.id, t0 + 25 * DAY); // used during the warning (as the recorder flushes it)
    await runAt(clock, t0 + 30 * DAY);
    await runAt(clock, t0 + 40 * DAY);
    expect(await keyRow(key!.id)).toMatchObject({ revoked_at: null });
    expect(await signalsOf(key!.id)).toHaveLength(1);

    // Idle again: a new warning 23 days after that use, then the revocation at 30.
    await runAt(clock, t0 + 48 * DAY);
    const signals = await signalsOf(key!.id);
    expect(signals).toHaveLength(2);
    expect(JSON.parse(signals[1]!.data)).toMatchObject({
      idleSince: new Date(t0 + 25 * DAY).toISOString(),
      revokeAt: new Date(t0 + 55 * DAY).toISOString(),
    });
    await runAt(clock, t0 + 55 * DAY);
    expect(await keyRow(key!.id)).toMatchObject({ revocation_reason: "idle" });
  });

  it("the revocation itself is skipped if the key was used after the job read it", async () => {
    const ws = freshWs();
    const now = Date.now();
    const [key] = await seedKeys(ws, 1, { createdAt: now - 100 * DAY, lastUsedAt: now - 40 * DAY });
    await usedAt(key!.id, now - 1000); // a use flushed between the job's read and its write
    const deps = {
      env,
      ctx: { waitUntil: () => {} },
      keys: { find: async () => null, remember: () => {}, announce: async () => {} },
      requestUrl: "https://t/",
    };
    const actor = { type: "system", id: "policy", clientIp: null, userAgent: null } as const;
    const change = { kind: "revoke", workspaceId: ws, keyId: key!.id, reason: "idle", unusedSince: now - 40 * DAY } as const;
    const [row] = await applyRevokes(deps, [change], actor);
    expect(row).toMatchObject({ revokedAt: null });
    expect(await env.DB.prepare("SELECT count(*) AS n FROM audit_events WHERE target_key_id = ?").bind(key!.id).first("n")).toBe(0);
    const [revoked] = await applyRevokes(deps, [{ ...change, unusedSince: now - 1000 }], actor);
    expect(revoked).toMatchObject({ revocationReason: "idle" });
  });

  it("takes 7 and 365 days at their edges: a 7-day rule warns after a day unused and revokes a week after the warning", async () => {
    const t0 = Date.parse("2026-06-01T00:00:00.000Z");
    const clock = freezeClock(t0 - 30 * DAY);
    const short = freshWs();
    const long = freshWs();
    await setIdle(short, 7);
    await setIdle(long, 365);
    const [a] = await seedKeys(short, 1, { createdAt: t0 - 500 * DAY, lastUsedAt: t0 });
    const [b] = await seedKeys(long, 1, { createdAt: t0 - 500 * DAY, lastUsedAt: t0 });

    await runAt(clock, t0 + DAY - 1);
    expect(await signalsOf(a!.id)).toEqual([]);
    await runAt(clock, t0 + DAY);
    expect(JSON.parse((await signalsOf(a!.id))[0]!.data).revokeAt).toBe(new Date(t0 + 8 * DAY).toISOString());
    await runAt(clock, t0 + 8 * DAY - 1);
    expect(await keyRow(a!.id)).toMatchObject({ revoked_at: null });
    await runAt(clock, t0 + 8 * DAY);
    expect(await keyRow(a!.id)).toMatchObject({ revocation_reason: "idle" });

    await runAt(clock, t0 + 358 * DAY - 1);
    expect(await signalsOf(b!.id)).toEqual([]);
    await runAt(clock, t0 + 358 * DAY);
    expect(await signalsOf(b!.id)).toHaveLength(1);
    await runAt(clock, t0 + 365 * DAY - 1);
    expect(await keyRow(b!.id)).toMatchObject({ revoked_at: null });
    await runAt(clock, t0 + 365 * DAY);
    expect(await keyRow(b!.id)).toMatchObject({ revocation_reason: "idle" });
  });

  it("leaves alone revoked keys, expired keys, and keys that expire before they could be revoked", async () => {
    const t0 = Date.now();
    const clock = freezeClock(t0);
    const ws = freshWs();
    await setIdle(ws, 30);
    const old = { createdAt: t0 - 100 * DAY };
    const [revoked] = await seedKeys(ws, 1, { ...old, revokedAt: t0 - DAY, revokedBy: "usr_x", revocationReason: "admin" });
    const [expired] = await seedKeys(ws, 1, { ...old, expiresAt: t0 - 1 });
    const [expiring] = await seedKeys(ws, 1, { ...old, expiresAt: t0 + 7 * DAY });
    const [idle] = await seedKeys(ws, 1, { ...old, expiresAt: t0 + 7 * DAY + 1 });
    await runAt(clock, t0);
    for (const key of [revoked, expired, expiring]) expect(await signalsOf(key!.id)).toEqual([]);
    expect(await signalsOf(idle!.id)).toHaveLength(1);
  });

  it("changing the rule restarts its week and warns again with the new date; turning it off stops everything", async () => {
    const t0 = Date.parse("2026-07-01T00:00:00.000Z");
    const clock = freezeClock(t0);
    const ws = freshWs();
    const [key] = await seedKeys(ws, 1, { createdAt: t0 - 200 * DAY });
    await setIdle(ws, 30);
    await runAt(clock, t0);
    clock.advance(6 * DAY);
    await setIdle(ws, 60); // t0 + 6 days
    await runAt(clock, t0 + 6 * DAY);
    const signals = await signalsOf(key!.id);
    expect(signals.map((s) => JSON.parse(s.data).revokeAt)).toEqual([
      new Date(t0 + 7 * DAY).toISOString(),
      new Date(t0 + 13 * DAY).toISOString(),
    ]);
    await runAt(clock, t0 + 7 * DAY + IDLE_PASS_EVERY_MS);
    expect(await keyRow(key!.id)).toMatchObject({ revoked_at: null }); // the first warning was about the old rule
    clock.advance(DAY);
    await setIdle(ws, null);
    await runAt(clock, t0 + 30 * DAY);
    expect(await keyRow(key!.id)).toMatchObject({ revoked_at: null });
    expect(await signalsOf(key!.id)).toHaveLength(2);
  });

  it("acts in its own workspace only", async () => {
    const t0 = Date.now();
    const clock = freezeClock(t0);
    const strict = freshWs();
    const other = freshWs();
    await setIdle(strict, 7);
    const [mine] = await seedKeys(strict, 1, { createdAt: t0 - 100 * DAY });
    const [theirs] = await seedKeys(other, 1, { createdAt: t0 - 100 * DAY });
    await runAt(clock, t0);
    await runAt(clock, t0 + 7 * DAY);
    expect(await keyRow(mine!.id)).toMatchObject({ revocation_reason: "idle" });
    expect(await keyRow(theirs!.id)).toMatchObject({ revoked_at: null });
    expect(await signalsOf(theirs!.id)).toEqual([]);
  });

  it("looks at a workspace once an hour: a run within the hour after a pass leaves it alone", async () => {
    const t0 = Date.now();
    const clock = freezeClock(t0);
    const ws = freshWs();
    await setIdle(ws, 30);
    await idleJob(env, t0); // due at once after the save: the pass finds nothing
    const [key] = await seedKeys(ws, 1, { createdAt: t0 - 100 * DAY });
    clock.advance(IDLE_PASS_EVERY_MS - 1);
    await idleJob(env, t0 + IDLE_PASS_EVERY_MS - 1);
    expect(await signalsOf(key!.id)).toEqual([]);
    clock.advance(1);
    await idleJob(env, t0 + IDLE_PASS_EVERY_MS);
    expect(await signalsOf(key!.id)).toHaveLength(1);
  });

  it("keeps a run well inside an invocation's 1 000 D1 queries", () => {
    expect(QUERY_BUDGET).toBeLessThanOrEqual(250);
  });

  it("stays inside its query budget per run, and carries a big workspace over several runs until every key is handled", async () => {
    const t0 = Date.now();
    const clock = freezeClock(t0);
    const ws = freshWs();
    await setIdle(ws, 30);
    const keys = await seedKeys(ws, 450, { createdAt: t0 - 100 * DAY });
    const budget = 20; // QUERY_BUDGET's pages are 100 keys all the same: a small budget shows a pass spanning runs
    const recorded = recordingD1();
    /** Runs a minute apart from `from` until the workspace's pass is over; each within the budget. */
    async function runsFrom(from: number) {
      const runs: { queries: number; warned: number; revoked: number }[] = [];
      for (let i = 0; i < 10; i++) {
        const at = from + i * 60_000;
        clock.advance(at - Date.now());
        const before = recorded.statements.length;
        runs.push(await idleJob({ ...env, DB: recorded.binding } as Env, at, { queryBudget: budget }));
        expect(recorded.statements.length - before).toBeLessThanOrEqual(budget);
        const row = await env.DB.prepare("SELECT idle_cursor, idle_next_pass_at FROM key_policies WHERE workspace_id = ?").bind(ws).first();
        if (row!.idle_cursor === null) {
          expect(row!.idle_next_pass_at).toBe(at + IDLE_PASS_EVERY_MS); // the pass is over: next due in an hour
          return runs;
        }
      }
      throw new Error("the pass did not end in 10 runs");
    }
    const warnings = await runsFrom(t0);
    expect(warnings.length).toBeGreaterThan(1);
    expect(warnings.reduce((n, r) => n + r.warned, 0)).toBe(keys.length);
    const warned = await env.DB.prepare("SELECT count(*) AS n FROM key_signals WHERE workspace_id = ? AND kind = 'idle'")
      .bind(ws)
      .first("n");
    expect(warned).toBe(keys.length);

    // A week later every key is revoked, which costs more per key: the pass takes more runs.
    const revocations = await runsFrom(t0 + 7 * DAY);
    expect(revocations.length).toBeGreaterThan(warnings.length);
    expect(revocations.reduce((n, r) => n + r.revoked, 0)).toBe(keys.length);
    const left = await env.DB.prepare("SELECT count(*) AS n FROM api_keys WHERE workspace_id = ? AND revoked_at IS NULL")
      .bind(ws)
      .first("n");
    expect(left).toBe(0);
  });

  it("runs from the worker's scheduled handler", async () => {
    const t0 = Date.now();
    freezeClock(t0);
    const ws = freshWs();
    await setIdle(ws, 30);
    const [key] = await seedKeys(ws, 1, { createdAt: t0 - 100 * DAY });
    const ctx = createExecutionContext();
    worker.scheduled!(createScheduledController({ cron: "* * * * *", scheduledTime: t0 }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(await signalsOf(key!.id)).toHaveLength(1);
  });
});
