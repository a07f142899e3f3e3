import { getTableColumns, type SQL, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { type AuditEventRow, auditEvents } from "../db/schema";
import { newId } from "../lib/ids";

/**
 * Every action the trail records. Add new key events here. `webhook.*` are
 * about a webhook endpoint (its id is the target), and `key_policy.updated`
 * about the workspace's key policy (the target is the workspace), not a key.
 */
export const AUDIT_ACTIONS = [
  "api_key.created",
  "api_key.revoked",
  "api_key.rolled",
  "api_key.updated",
  "webhook.created",
  "webhook.updated",
  "webhook.deleted",
  "key_policy.updated",
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** Who made a change, as the trail records it: an id (a user, a key, a system actor) and the request's client. */
export interface AuditedBy {
  actorId: string;
  clientIp: string | null;
  userAgent: string | null;
}

/** The event of `by` doing `action` to a key of `workspaceId` (for `webhook.*`, to a webhook endpoint; for `key_policy.updated`, to the workspace's policy: the target is the workspace). */
export function auditRow(
  action: AuditAction,
  by: AuditedBy,
  workspaceId: string,
  targetKeyId: string,
  at: number,
  details: Record<string, unknown> | null = null,
): AuditEventRow {
  return {
    id: newId("evt"),
    workspaceId,
    action,
    actorId: by.actorId,
    targetKeyId,
    clientIp: by.clientIp,
    userAgent: by.userAgent,
    createdAt: at,
    details,
  };
}

/**
 * The one way an audit event is written: `INSERT … SELECT <the event> WHERE
 * <condition>`, a statement of the change's own D1 batch. The condition is
 * the change's (the key is still active, is as it was read, the new key was
 * inserted…), evaluated inside the batch, so there is no event without its
 * change: of concurrent changes only the one that happened is recorded (D1
 * runs batches one at a time).
 */
export function insertAuditEventIf(db: Db, event: AuditEventRow, condition: SQL) {
  const values = event as Record<string, unknown>;
  const selected = Object.keys(getTableColumns(auditEvents)).map((field) => {
    const value = values[field] ?? null;
    // drizzle does not JSON-encode raw values: details are stored as JSON text.
    return sql`${field === "details" && value !== null ? JSON.stringify(value) : value}`;
  });
  return db.insert(auditEvents).select(sql`select ${sql.join(selected, sql`, `)} where ${condition}`);
}
