import { and, eq, isNull, type SQL, sql } from "drizzle-orm";
import { type AuditActor, auditRow } from "../audit/events";
import { type Db, database, storage } from "../db/client";
import { type ApiKeyRow, type AuditEventRow, apiKeys, auditEvents } from "../db/schema";
import type { Env, WaitUntil } from "../env";
import { notFound, Problem } from "../http/problem";
import type { RatePolicy } from "../ratelimit/types";
import { publishChange } from "./publish-change";
import { toKeyRecord } from "./records";
import type { KeyStore } from "./verify/key-store";

/** What PATCH may change. Scopes are not here: they never change (create another key). */
export interface UpdateKeyInput {
  name?: string | undefined;
  /** Normalised CIDRs (IpAllowlistSchema); [] lifts the restriction. */
  ipAllowlist?: string[] | undefined;
  /** null removes the limit. */
  rateLimit?: RatePolicy | null | undefined;
}

/** The fields PATCH may change, in the order the audit event names them. */
export const UPDATABLE_FIELDS = ["name", "ipAllowlist", "rateLimit"] as const;
type UpdatableField = (typeof UPDATABLE_FIELDS)[number];
type Changes = Partial<Pick<ApiKeyRow, UpdatableField>>;

/** Attempts when another change to the same key lands between our read and our write. */
const MAX_ATTEMPTS = 3;

const revokedConflict = () => new Problem("conflict", "This API key is revoked; it cannot be changed. Create a new key instead.");

/**
 * Changes a key's name, IP allowlist or rate limit.
 *
 * The key is read first, to answer 404 or 409 and to find which fields the
 * body really changes: those are what the audit event names, and a body that
 * changes nothing writes nothing (no event, no cache write). The write is one
 * D1 batch, the update and its audit event, both conditional on the key
 * being exactly as read and still active; if another change got in between,
 * nothing was written and the comparison starts over from the new state. So
 * every event names precisely the fields its own write changed, and a key
 * revoked meanwhile is answered 409 without a change or an event.
 *
 * Then the change is published like a revoke: this isolate at once, other
 * isolates and locations within the revocation bound.
 */
export async function updateKey(env: Env, ctx: WaitUntil, keys: KeyStore, id: string, input: UpdateKeyInput, actor: AuditActor) {
  const db = database(env.DB);
  const { workspaceId } = actor;
  let current = await readRow(db, workspaceId, id);
  for (let attempt = 1; ; attempt++) {
    if (!current) throw notFound("No API key with this id in this workspace.");
    if (current.revokedAt !== null) throw revokedConflict();
    const changes = changedFields(current, input);
    const fields = UPDATABLE_FIELDS.filter((f) => f in changes);
    if (fields.length === 0) return toKeyRecord(current);

    const unchanged = sameAs(current);
    const event = auditRow("api_key.updated", actor, id, Date.now(), { fields });
    // The event goes first: it checks the key as read, before the update changes it.
    const [, updated, rows] = await storage("update_key", () =>
      db.batch([
        insertEventIf(db, event, unchanged),
        db.update(apiKeys).set(changes).where(unchanged),
        db
          .select()
          .from(apiKeys)
          .where(and(eq(apiKeys.id, id), eq(apiKeys.workspaceId, workspaceId))),
      ]),
    );
    const row = rows[0];
    if (updated.meta.changes === 1 && row) {
      await publishChange(env, ctx, keys, row);
      return toKeyRecord(row);
    }
    if (attempt === MAX_ATTEMPTS) {
      throw new Problem("conflict", "The key was changed by another request at the same time; read it again and retry.");
    }
    current = row;
  }
}

/** The body's fields whose values differ from the row's; the values as they will be stored. */
function changedFields(row: ApiKeyRow, input: UpdateKeyInput): Changes {
  const changes: Changes = {};
  if (input.name !== undefined && input.name !== row.name) changes.name = input.name;
  if (input.ipAllowlist !== undefined && !sameList(input.ipAllowlist, row.ipAllowlist)) changes.ipAllowlist = input.ipAllowlist;
  if (input.rateLimit !== undefined && !samePolicy(input.rateLimit, row.rateLimit)) changes.rateLimit = input.rateLimit;
  return changes;
}

// Entries are normalised on the way in (IpAllowlistSchema), so equal lists
// are equal strings in the same order. Reordering a list is a change: the
// admin sees the new order in the record.
const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((v, i) => v === b[i]);

const samePolicy = (a: RatePolicy | null, b: RatePolicy | null) =>
  a === null || b === null ? a === b : a.limit === b.limit && a.periodSeconds === b.periodSeconds;

/**
 * The key's row, still active, with the three fields exactly as in `row`.
 * The JSON columns are compared by value (json() drops any spacing, and the
 * limit's members are read one by one), not by the text drizzle happened to write.
 */
function sameAs(row: ApiKeyRow): SQL {
  return and(
    eq(apiKeys.id, row.id),
    eq(apiKeys.workspaceId, row.workspaceId),
    isNull(apiKeys.revokedAt),
    eq(apiKeys.name, row.name),
    sql`json(${apiKeys.ipAllowlist}) = json(${JSON.stringify(row.ipAllowlist)})`,
    row.rateLimit === null
      ? isNull(apiKeys.rateLimit)
      : sql`json_extract(${apiKeys.rateLimit}, '$.limit') = ${row.rateLimit.limit} AND json_extract(${apiKeys.rateLimit}, '$.periodSeconds') = ${row.rateLimit.periodSeconds}`,
  )!;
}

/** The audit event, inserted only when `condition` holds for the key (the same condition as the update's, in the same batch). */
function insertEventIf(db: Db, event: AuditEventRow, condition: SQL) {
  return db.insert(auditEvents).select(
    db
      .select({
        id: sql<string>`${event.id}`.as("id"),
        workspaceId: apiKeys.workspaceId,
        action: sql<string>`${event.action}`.as("action"),
        actorId: sql<string>`${event.actorId}`.as("actor_id"),
        targetKeyId: apiKeys.id,
        clientIp: sql<string | null>`${event.clientIp}`.as("client_ip"),
        userAgent: sql<string | null>`${event.userAgent}`.as("user_agent"),
        createdAt: sql<number>`${event.createdAt}`.as("created_at"),
        details: sql<Record<string, unknown> | null>`${JSON.stringify(event.details)}`.as("details"),
      })
      .from(apiKeys)
      .where(condition),
  );
}

function readRow(db: Db, workspaceId: string, id: string) {
  return storage("get_key", () =>
    db
      .select()
      .from(apiKeys)
      .where(and(eq(apiKeys.id, id), eq(apiKeys.workspaceId, workspaceId)))
      .get(),
  );
}
