import { and, eq, isNull, sql } from "drizzle-orm";
import type { Context } from "hono";
import type { Db } from "../db/client";
import { type AuditEventRow, apiKeys, auditEvents } from "../db/schema";
import { newId } from "../lib/ids";

/** Every action the trail records. Add new key events here. */
export const AUDIT_ACTIONS = ["api_key.created", "api_key.revoked", "api_key.rolled", "api_key.updated"] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** Who made a change and from where: the admin's session plus the request's client. */
export interface AuditActor {
  workspaceId: string;
  userId: string;
  clientIp: string | null;
  userAgent: string | null;
}

// Client-supplied headers are stored, so they are bounded: an IPv6 address is
// at most 45 characters, and no honest User-Agent needs more than 512.
const MAX_IP_LENGTH = 64;
const MAX_USER_AGENT_LENGTH = 512;

/** The actor of a request made with an admin session. */
export function auditActor(c: Context, session: { ws: string; sub: string }): AuditActor {
  return {
    workspaceId: session.ws,
    userId: session.sub,
    // Set by Cloudflare's edge for every request; a client cannot choose it there.
    clientIp: c.req.header("CF-Connecting-IP")?.slice(0, MAX_IP_LENGTH) ?? null,
    userAgent: c.req.header("User-Agent")?.slice(0, MAX_USER_AGENT_LENGTH) ?? null,
  };
}

export function auditRow(
  action: AuditAction,
  actor: AuditActor,
  targetKeyId: string,
  at = Date.now(),
  details: Record<string, unknown> | null = null,
): AuditEventRow {
  return {
    id: newId("evt"),
    workspaceId: actor.workspaceId,
    action,
    actorId: actor.userId,
    targetKeyId,
    clientIp: actor.clientIp,
    userAgent: actor.userAgent,
    createdAt: at,
    details,
  };
}

/** An insert for db.batch(), next to the change it records. */
export function insertAuditEvent(db: Db, row: AuditEventRow) {
  return db.insert(auditEvents).values(row);
}

/**
 * The revoke event, inserted only while the key is still active in this
 * workspace. It runs in the revoke's batch *before* the update, so of two
 * concurrent revokes only the first records an event (D1 runs batches one
 * at a time); the unique index on revoke events is the second line.
 */
export function insertRevokeEventIfActive(db: Db, row: AuditEventRow) {
  return db.insert(auditEvents).select(
    db
      .select({
        id: sql<string>`${row.id}`.as("id"),
        workspaceId: apiKeys.workspaceId,
        action: sql<string>`${row.action}`.as("action"),
        actorId: sql<string>`${row.actorId}`.as("actor_id"),
        targetKeyId: apiKeys.id,
        clientIp: sql<string | null>`${row.clientIp}`.as("client_ip"),
        userAgent: sql<string | null>`${row.userAgent}`.as("user_agent"),
        createdAt: sql<number>`${row.createdAt}`.as("created_at"),
        details: sql<Record<string, unknown> | null>`${row.details === null ? null : JSON.stringify(row.details)}`.as("details"),
      })
      .from(apiKeys)
      .where(and(eq(apiKeys.id, row.targetKeyId), eq(apiKeys.workspaceId, row.workspaceId), isNull(apiKeys.revokedAt))),
  );
}
