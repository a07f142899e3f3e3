import { and, eq, isNull } from "drizzle-orm";
import { type AuditActor, auditRow, insertRevokeEventIfActive } from "../audit/events";
import { type Db, database, storage } from "../db/client";
import { type ApiKeyRow, apiKeys } from "../db/schema";
import type { Env, WaitUntil } from "../env";
import { notFound } from "../http/problem";
import { publishChange } from "./publish-change";
import type { KeyStore } from "./verify/key-store";

export type RevocationReason = NonNullable<ApiKeyRow["revocationReason"]>;

/**
 * The two statements of one revoke, for a db.batch(): the audit event, inserted
 * only while the key is active (so of concurrent revokes, whatever their
 * reason, only the first is recorded), then the update, which only the first
 * revoke makes. revokedAt, revokedBy and the reason never change afterwards.
 * `actor.userId` is who revoked: an admin, `github_secret_scanning`, or the key.
 */
export function revocationStatements(
  db: Db,
  keyId: string,
  actor: AuditActor,
  reason: RevocationReason,
  details: Record<string, unknown>,
  at: number,
) {
  return [
    insertRevokeEventIfActive(db, auditRow("api_key.revoked", actor, keyId, at, { reason, ...details })),
    db
      .update(apiKeys)
      .set({ revokedAt: at, revokedBy: actor.userId, revocationReason: reason })
      .where(and(eq(apiKeys.id, keyId), eq(apiKeys.workspaceId, actor.workspaceId), isNull(apiKeys.revokedAt))),
  ] as const;
}

/**
 * A key revokes itself ("I leaked this"). `actor` is the key: its id as user
 * id, its workspace. As with an admin's revoke: D1 first, then this isolate's
 * memo (the key fails here at once), then KV.
 */
export async function selfRevoke(env: Env, ctx: WaitUntil, keys: KeyStore, keyId: string, actor: AuditActor) {
  const db = database(env.DB);
  const [, , rows] = await storage("self_revoke_key", () =>
    db.batch([
      ...revocationStatements(db, keyId, actor, "self", {}, Date.now()),
      db
        .select()
        .from(apiKeys)
        .where(and(eq(apiKeys.id, keyId), eq(apiKeys.workspaceId, actor.workspaceId))),
    ]),
  );
  const row = rows[0];
  // The key was verified a moment ago and keys are never deleted: only a
  // storage fault could get here, and it must not look like success.
  if (!row || row.revokedAt === null) throw notFound("No API key with this id in this workspace.");
  await publishChange(env, ctx, keys, row);
  return { id: row.id, revokedAt: new Date(row.revokedAt).toISOString(), revocationReason: row.revocationReason ?? "self" };
}
