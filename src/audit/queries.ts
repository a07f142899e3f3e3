import { and, desc, eq, like, type SQL } from "drizzle-orm";
import { database } from "../db/client";
import { after } from "../db/keyset";
import { type AuditEventRow, auditEvents } from "../db/schema";
import { storage } from "../db/storage";
import type { Env } from "../env";
import { decodeCursor, page } from "../http/cursor";
import type { AuditAction } from "./events";

/**
 * What an event is about, by its action: a key (`api_key.*`), a webhook
 * endpoint (`webhook.*`), or the workspace's key policy (`key_policy.*`, whose
 * target is the workspace). The target column holds that id.
 */
const isKeyAction = (action: string) => action.startsWith("api_key.");
const isWebhookAction = (action: string) => action.startsWith("webhook.");

function toAuditEvent(row: AuditEventRow) {
  return {
    id: row.id,
    action: row.action as AuditAction,
    workspaceId: row.workspaceId,
    actorId: row.actorId,
    keyId: isKeyAction(row.action) ? row.targetKeyId : null,
    webhookId: isWebhookAction(row.action) ? row.targetKeyId : null,
    clientIp: row.clientIp,
    userAgent: row.userAgent,
    createdAt: new Date(row.createdAt).toISOString(),
    details: row.details ?? null,
  };
}

/** A workspace's audit events, newest first. Read-only: nothing here or anywhere changes an event. */
export async function listAuditEvents(
  env: Env,
  workspaceId: string,
  query: { keyId?: string | undefined; limit: number; cursor?: string | undefined },
) {
  const cursor = query.cursor ? decodeCursor(query.cursor) : null;
  const conditions: (SQL | undefined)[] = [eq(auditEvents.workspaceId, workspaceId)];
  if (query.keyId) conditions.push(eq(auditEvents.targetKeyId, query.keyId), like(auditEvents.action, "api_key.%"));
  if (cursor) {
    conditions.push(after(auditEvents.createdAt, auditEvents.id, cursor));
  }
  const rows = await storage("list_audit_events", () =>
    database(env.DB)
      .select()
      .from(auditEvents)
      .where(and(...conditions))
      .orderBy(desc(auditEvents.createdAt), desc(auditEvents.id))
      .limit(query.limit + 1)
      .all(),
  );
  const result = page(rows, query.limit, (r) => ({ t: r.createdAt, id: r.id }));
  return { data: result.data.map(toAuditEvent), nextCursor: result.nextCursor };
}
