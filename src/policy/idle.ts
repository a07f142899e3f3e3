import { and, asc, eq, isNotNull, lte, sql } from "drizzle-orm";
import { database } from "../db/client";
import { apiKeys, type KeyPolicyRow, keyPolicies, keySignals } from "../db/schema";
import { storage } from "../db/storage";
import type { Env } from "../env";
import type { Actor } from "../keys/actor";
import { applyRevokes, type KeyChangeDeps, REVOKES_PER_BATCH } from "../keys/change";
import { newId } from "../lib/ids";
import { errorMessage, log } from "../lib/log";
import { idleDedupe, idleRevokeAt, warnAfterMs } from "./idle-timing";

/**
 * The idle rule of the key policy, run by the cron (src/scheduled.ts): in each
 * workspace whose policy has `idleRevokeDays`, once an hour, the active keys
 * unused long enough are warned (an `idle` signal in key_signals, which the
 * webhooks turn into `api_key.idle`), and those whose warning is old enough
 * are revoked through the one write path (reason `idle`, actor `policy`).
 * Timing: src/policy/idle-timing.ts.
 *
 * "Unused" is what D1 knows: `last_used_at` as the recorder shards flush it,
 * within LAST_USED_FLUSH_SECONDS (60 s) of a use. At the scale of days that is
 * exact enough; and the revocation itself is conditional on the key's last use
 * being the one its warning was about, so a use that reached D1 by then
 * spares the key, however late the job read it.
 *
 * Bounded per run: at most WORKSPACES_PER_RUN workspaces and QUERY_BUDGET D1
 * queries (of the 1 000 an invocation may make, shared with the other jobs),
 * keys read KEYS_PER_PAGE at a time from the index on their last use. A pass
 * over a workspace that does not fit in a run stops at a page boundary, keeps
 * its place (`idle_cursor`) and goes on at the next run, a minute later.
 */

/** How often each workspace's keys are looked at: warnings and revocations come at most this late. */
export const IDLE_PASS_EVERY_MS = 60 * 60_000;
const WORKSPACES_PER_RUN = 20;
const KEYS_PER_PAGE = 100;
/** D1 queries one run may make. */
export const QUERY_BUDGET = 200;
/** The most one page can cost: its read, its warnings, and its revocations (one batch of five per REVOKES_PER_BATCH keys). */
const PAGE_COST = 2 + Math.ceil(KEYS_PER_PAGE / REVOKES_PER_BATCH) * 5;

const POLICY_ACTOR: Actor = { type: "system", id: "policy", clientIp: null, userAgent: null };

export interface IdleRun {
  workspaces: number;
  warned: number;
  revoked: number;
  /** D1 queries made, of `budget`. */
  queries: number;
  budget: number;
}

interface Cursor {
  since: number;
  id: string;
}

/** `queryBudget`: D1 queries this run may make (tests pass a small one to see a pass span runs). */
export async function idleJob(env: Env, now: number, { queryBudget = QUERY_BUDGET } = {}): Promise<IdleRun> {
  const { deps, settle } = cronDeps(env);
  const run: IdleRun = { workspaces: 0, warned: 0, revoked: 0, queries: 0, budget: queryBudget };
  try {
    const due = await storage("idle_due_policies", () =>
      database(env.DB)
        .select()
        .from(keyPolicies)
        .where(and(isNotNull(keyPolicies.idleRevokeDays), lte(keyPolicies.idleNextPassAt, now)))
        .orderBy(asc(keyPolicies.idleNextPassAt))
        .limit(WORKSPACES_PER_RUN),
    );
    run.queries++;
    for (const policy of due) {
      if (run.budget - run.queries < PAGE_COST + 1) break;
      run.workspaces++;
      await pass(deps, policy, now, run);
    }
  } finally {
    await settle();
  }
  if (run.warned > 0 || run.revoked > 0) log("info", "idle_keys", { ...run });
  return run;
}

/** One workspace: pages of its keys unused long enough, from where the last run stopped, until done or out of budget. */
async function pass(deps: KeyChangeDeps, policy: KeyPolicyRow, now: number, run: IdleRun): Promise<void> {
  const db = database(deps.env.DB);
  const days = policy.idleRevokeDays!;
  const setAt = policy.idleSetAt ?? now;
  let cursor = parseCursor(policy.idleCursor);
  const since = sql<number>`coalesce(${apiKeys.lastUsedAt}, ${apiKeys.createdAt})`;
  for (;;) {
    if (run.budget - run.queries < PAGE_COST + 1) return keepPlace(deps.env, policy, cursor, run);
    const page = await storage("idle_keys", () =>
      db
        .select({
          id: apiKeys.id,
          workspaceId: apiKeys.workspaceId,
          since,
          expiresAt: apiKeys.expiresAt,
          warnedAt: keySignals.at,
        })
        .from(apiKeys)
        // The key's warning for its current time unused and the rule's current setting (idleDedupe), by the unique index.
        .leftJoin(keySignals, eq(keySignals.dedupe, sql`'idle:' || ${apiKeys.id} || ':' || ${since} || ${`:${setAt}`}`))
        .where(
          and(
            eq(apiKeys.workspaceId, policy.workspaceId),
            sql`${apiKeys.revokedAt} is null`,
            sql`${since} <= ${now - warnAfterMs(days)}`,
            cursor ? sql`(${since} > ${cursor.since} or (${since} = ${cursor.since} and ${apiKeys.id} > ${cursor.id}))` : undefined,
          ),
        )
        .orderBy(asc(since), asc(apiKeys.id))
        .limit(KEYS_PER_PAGE),
    );
    run.queries++;
    const warn: { id: string; since: number; revokeAt: number }[] = [];
    const revoke: { id: string; since: number }[] = [];
    for (const key of page) {
      if (key.expiresAt !== null && key.expiresAt <= now) continue; // expired: it works no more
      if (key.warnedAt === null) {
        const revokeAt = idleRevokeAt(days, key.since, now);
        // A key that expires before it could be revoked just expires: nothing to announce.
        if (key.expiresAt === null || key.expiresAt > revokeAt) warn.push({ id: key.id, since: key.since, revokeAt });
      } else if (now >= idleRevokeAt(days, key.since, key.warnedAt)) {
        revoke.push({ id: key.id, since: key.since });
      }
    }
    if (warn.length > 0) {
      run.warned += await warnKeys(deps.env, policy.workspaceId, warn, days, setAt, now);
      run.queries++;
    }
    if (revoke.length > 0) {
      const rows = await applyRevokes(
        deps,
        revoke.map((k) => ({
          kind: "revoke" as const,
          workspaceId: policy.workspaceId,
          keyId: k.id,
          reason: "idle" as const,
          details: { idleSince: new Date(k.since).toISOString(), idleRevokeDays: days },
          unusedSince: k.since,
        })),
        POLICY_ACTOR,
      );
      run.queries += Math.ceil(revoke.length / REVOKES_PER_BATCH) * 5;
      run.revoked += rows.filter((r) => r.revocationReason === "idle" && r.revokedBy === "policy" && r.revokedAt! >= now).length;
    }
    const last = page.at(-1);
    if (page.length < KEYS_PER_PAGE || !last) return finish(deps.env, policy, now, run);
    cursor = { since: last.since, id: last.id };
  }
}

/**
 * The warnings: one `idle` signal per key, written once (the dedupe is unique:
 * a key warned before, for the same time unused and the same rule, is not
 * warned again). Answers how many were new.
 */
async function warnKeys(
  env: Env,
  workspaceId: string,
  keys: { id: string; since: number; revokeAt: number }[],
  idleRevokeDays: number,
  idleSetAt: number,
  now: number,
): Promise<number> {
  const rows = keys.map((k) => [
    newId("sig"),
    k.id,
    idleDedupe(k.id, k.since, idleSetAt),
    JSON.stringify({
      revokeAt: new Date(k.revokeAt).toISOString(),
      idleSince: new Date(k.since).toISOString(),
      idleRevokeDays,
    }),
  ]);
  const inserted = await storage("idle_signals", () =>
    env.DB.prepare(
      // Only a key of this workspace, still active, gets one, whatever changed since the page was read.
      `INSERT INTO key_signals (id, key_id, workspace_id, kind, dedupe, at, data)
       SELECT s.value ->> 0, k.id, k.workspace_id, 'idle', s.value ->> 2, ?3, s.value ->> 3
       FROM json_each(?1) AS s JOIN api_keys k ON k.id = s.value ->> 1 AND k.workspace_id = ?2
       WHERE k.revoked_at IS NULL
       ON CONFLICT (dedupe) DO NOTHING`,
    )
      .bind(JSON.stringify(rows), workspaceId, now)
      .run(),
  );
  return inserted.meta.changes ?? 0;
}

/** The pass is done: the next one in an hour (unless the policy changed meanwhile: its save already scheduled one). */
async function finish(env: Env, policy: KeyPolicyRow, now: number, run: IdleRun): Promise<void> {
  await schedule(env, policy, { idleNextPassAt: now + IDLE_PASS_EVERY_MS, idleCursor: null });
  run.queries++;
}

/** Out of budget mid-pass: the next run goes on from here. */
async function keepPlace(env: Env, policy: KeyPolicyRow, cursor: Cursor | null, run: IdleRun): Promise<void> {
  await schedule(env, policy, { idleCursor: cursor ? JSON.stringify(cursor) : null });
  run.queries++;
}

async function schedule(env: Env, policy: KeyPolicyRow, set: Partial<Pick<KeyPolicyRow, "idleNextPassAt" | "idleCursor">>) {
  await storage("idle_schedule", () =>
    database(env.DB)
      .update(keyPolicies)
      .set(set)
      .where(and(eq(keyPolicies.workspaceId, policy.workspaceId), eq(keyPolicies.version, policy.version))),
  );
}

function parseCursor(text: string | null): Cursor | null {
  if (!text) return null;
  try {
    const value = JSON.parse(text) as Cursor;
    return typeof value.since === "number" && typeof value.id === "string" ? value : null;
  } catch {
    return null;
  }
}

/**
 * What the write path needs, outside a request: the bindings, a waitUntil
 * whose promises the job awaits before it ends, and no key memo of its own
 * (this is no request's isolate: every isolate learns the revocations from
 * the change log, within its bound).
 */
function cronDeps(env: Env): { deps: KeyChangeDeps; settle(): Promise<void> } {
  const pending: Promise<unknown>[] = [];
  const deps: KeyChangeDeps = {
    env,
    ctx: { waitUntil: (promise) => void pending.push(promise) },
    keys: { find: async () => null, remember: () => {}, announce: async () => {} },
    requestUrl: "https://cron.invalid/",
  };
  return {
    deps,
    settle: async () => {
      for (const result of await Promise.allSettled(pending)) {
        if (result.status === "rejected") log("warn", "idle_job_follow_up_failed", { error: errorMessage(result.reason) });
      }
    },
  };
}
