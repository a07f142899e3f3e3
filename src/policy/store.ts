import { eq, sql } from "drizzle-orm";
import { auditRow, insertAuditEventIf } from "../audit/events";
import { type Db, database } from "../db/client";
import { auditEvents, type KeyPolicyRow, keyPolicies } from "../db/schema";
import { storage } from "../db/storage";
import type { Env } from "../env";
import { Problem } from "../http/problem";
import { type Actor, actorId } from "../keys/actor";
import { DEFAULT_POLICY, type KeyPolicy, POLICY_RULE_NAMES } from "../keys/guard-rails";

/**
 * A workspace's key policy in D1 (key_policies): one row per workspace that
 * saved one; no row is the default (every rule off). Read where keys are made
 * or changed (keys/change.ts) and by the idle job; saved by PUT
 * /v1/key-policy, together with its audit event.
 */

/** The policy's rules as a row holds them (or the default, for no row). */
export function policyOf(row: KeyPolicyRow | undefined | null): KeyPolicy {
  if (!row) return { ...DEFAULT_POLICY };
  return { maxLifetimeDays: row.maxLifetimeDays, requireIpAllowlist: row.requireIpAllowlist, idleRevokeDays: row.idleRevokeDays };
}

export const samePolicy = (a: KeyPolicy, b: KeyPolicy) => POLICY_RULE_NAMES.every((rule) => a[rule] === b[rule]);

export async function readPolicyRow(db: Db, workspaceId: string): Promise<KeyPolicyRow | undefined> {
  return storage("read_key_policy", () => db.select().from(keyPolicies).where(eq(keyPolicies.workspaceId, workspaceId)).get());
}

/** The workspace's policy, as the write path applies it. */
export async function readPolicy(env: Env, workspaceId: string): Promise<KeyPolicy> {
  return policyOf(await readPolicyRow(database(env.DB), workspaceId));
}

/** Attempts of a save when another save lands between its read and its write. */
const MAX_SAVE_ATTEMPTS = 3;

/**
 * Saves `next` as the workspace's policy, with its `key_policy.updated`
 * audit event (`details` {old, new}), in one D1 batch: the event is inserted
 * only while the policy is still the version that was read, and the row is
 * written only if the event was. So the event's `old` is exactly what the
 * save replaced, and of two concurrent saves each records what it replaced
 * (the second reads again and retries). A save that changes nothing writes
 * nothing and records nothing.
 *
 * Changing the idle rule (on, off, or another number of days) restarts its
 * clock: `idle_set_at` is now, so no key is revoked as idle before 7 days
 * from now, and the idle job looks at the workspace at its next run.
 */
export async function savePolicy(
  env: Env,
  workspaceId: string,
  next: KeyPolicy,
  actor: Actor,
): Promise<{ row: KeyPolicyRow | undefined; saved: boolean }> {
  const db = database(env.DB);
  let current = await readPolicyRow(db, workspaceId);
  for (let attempt = 1; ; attempt++) {
    const old = policyOf(current);
    if (samePolicy(old, next)) return { row: current, saved: false };
    const now = Date.now();
    const version = current?.version ?? 0;
    const idleChanged = old.idleRevokeDays !== next.idleRevokeDays;
    // The event's target is the workspace: a policy is about no one key.
    const by = { actorId: actorId(actor), clientIp: actor.clientIp, userAgent: actor.userAgent };
    const event = auditRow("key_policy.updated", by, workspaceId, workspaceId, now, { old, new: next });
    const row = policyRowAfter(workspaceId, current, next, now, by.actorId)!;
    const results = await storage("save_key_policy", () =>
      db.batch([
        insertAuditEventIf(
          db,
          event,
          sql`coalesce((select ${keyPolicies.version} from ${keyPolicies} where ${keyPolicies.workspaceId} = ${workspaceId}), 0) = ${version}`,
        ),
        upsert(db, row, idleChanged, event.id),
        db.select({ id: auditEvents.id }).from(auditEvents).where(eq(auditEvents.id, event.id)),
        db.select().from(keyPolicies).where(eq(keyPolicies.workspaceId, workspaceId)),
      ]),
    );
    const recorded = (results[2] as { id: string }[]).length === 1;
    const written = (results[3] as KeyPolicyRow[])[0];
    if (recorded && written) return { row: written, saved: true };
    if (attempt === MAX_SAVE_ATTEMPTS) {
      throw new Problem("conflict", "The key policy was changed by another request at the same time; read it again and retry.");
    }
    current = written;
  }
}

/**
 * The row a save of `next` over `current` writes at `now` (what a dry run
 * shows); `current` itself when nothing changes. The idle clock restarts if
 * the idle rule changes.
 */
export function policyRowAfter(
  workspaceId: string,
  current: KeyPolicyRow | undefined,
  next: KeyPolicy,
  now: number,
  by: string,
): KeyPolicyRow | undefined {
  if (samePolicy(policyOf(current), next)) return current;
  const idleChanged = policyOf(current).idleRevokeDays !== next.idleRevokeDays;
  const idle = idleChanged
    ? { idleSetAt: next.idleRevokeDays === null ? null : now, idleNextPassAt: next.idleRevokeDays === null ? null : now, idleCursor: null }
    : { idleSetAt: current?.idleSetAt ?? null, idleNextPassAt: current?.idleNextPassAt ?? null, idleCursor: current?.idleCursor ?? null };
  return { workspaceId, ...next, ...idle, version: (current?.version ?? 0) + 1, updatedAt: now, updatedBy: by };
}

/**
 * INSERT … SELECT … WHERE <the save's audit event exists> ON CONFLICT DO
 * UPDATE: written only if the event was. The idle job's own columns (its
 * next pass and cursor) are left as they are unless the idle rule changed.
 */
function upsert(db: Db, row: KeyPolicyRow, idleChanged: boolean, eventId: string) {
  const excluded = (column: string) => sql.raw(`excluded.${column}`);
  return db
    .insert(keyPolicies)
    .select(
      sql`select ${row.workspaceId}, ${row.maxLifetimeDays}, ${row.requireIpAllowlist ? 1 : 0}, ${row.idleRevokeDays}, ${row.idleSetAt},
                 ${row.version}, ${row.updatedAt}, ${row.updatedBy}, ${row.idleNextPassAt}, ${row.idleCursor}
          where exists (select 1 from ${auditEvents} where ${auditEvents.id} = ${eventId})`,
    )
    .onConflictDoUpdate({
      target: keyPolicies.workspaceId,
      set: {
        maxLifetimeDays: excluded("max_lifetime_days"),
        requireIpAllowlist: excluded("require_ip_allowlist"),
        idleRevokeDays: excluded("idle_revoke_days"),
        version: excluded("version"),
        updatedAt: excluded("updated_at"),
        updatedBy: excluded("updated_by"),
        ...(idleChanged
          ? { idleSetAt: excluded("idle_set_at"), idleNextPassAt: excluded("idle_next_pass_at"), idleCursor: excluded("idle_cursor") }
          : {}),
      },
    });
}
