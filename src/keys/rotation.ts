import { and, eq, getTableColumns, inArray, type SQL, sql } from "drizzle-orm";
import { type AuditActor, auditRow } from "../audit/events";
import { type Db, database } from "../db/client";
import { type ApiKeyRow, type AuditEventRow, apiKeys, auditEvents } from "../db/schema";
import type { Env, WaitUntil } from "../env";
import { notFound, Problem, unavailable } from "../http/problem";
import { newId } from "../lib/ids";
import { errorMessage, log } from "../lib/log";
import { hashKey } from "./format/hash";
import { displayPrefix, generateKey } from "./format/key";
import { publishChange } from "./publish-change";
import { toKeyRecord, toVerifiedKey } from "./records";
import type { KeyStore } from "./verify/key-store";

/** The longest overlap a roll allows: a week, time enough to redeploy anything that holds the old key. */
export const MAX_OVERLAP_SECONDS = 604_800;

export interface RollInput {
  overlapSeconds?: number | undefined;
  /** When the new key stops working; omitted or null: never. */
  expiresAt?: string | null | undefined;
}

/**
 * What the new key takes from the old one, read inside the database by the
 * insert itself: the roll never reads the old key first and writes after, so
 * nothing can change between a read and the write.
 */
const INHERITED = ["workspaceId", "name", "scopes", "ipAllowlist", "rateLimit"] as const;
type Inherited = (typeof INHERITED)[number];

/**
 * Rolls a key: a new key with the old one's name, scopes, allowlist and rate
 * limit, and the old key set to stop at the end of the overlap. Everything is
 * one D1 batch (one transaction): the new key, the old key's change and both
 * audit events are written together or not at all.
 *
 * Of concurrent rolls of one key exactly one succeeds, decided by the database:
 * the new key is inserted only while the old one is active and not yet rolled
 * (D1 runs batches one at a time), and the partial unique index on rolled_from
 * refuses a second successor should two inserts ever overlap.
 */
export async function rollKey(env: Env, ctx: WaitUntil, keys: KeyStore, oldId: string, input: RollInput, actor: AuditActor) {
  const { workspaceId } = actor;
  const key = generateKey();
  const now = Date.now();
  const overlapSeconds = input.overlapSeconds ?? 0;
  const oldStopsAt = now + overlapSeconds * 1000;
  const fresh: Omit<ApiKeyRow, Inherited> = {
    id: newId("key"),
    prefix: displayPrefix(key),
    keyHash: hashKey(key),
    createdAt: now,
    createdBy: actor.userId,
    lastUsedAt: null,
    expiresAt: input.expiresAt ? Date.parse(input.expiresAt) : null,
    revokedAt: null,
    revokedBy: null,
    revocationReason: null,
    rolledFrom: oldId,
    rolledTo: null,
    lastUsedIp: null,
    lastUsedCountry: null,
  };
  const newKeyExists = sql`exists (select 1 from ${apiKeys} as successor where successor.id = ${fresh.id})`;

  const db = database(env.DB);
  const [, , , , rows] = await rollStorage(() =>
    db.batch([
      insertSuccessor(db, fresh, and(eq(apiKeys.id, oldId), eq(apiKeys.workspaceId, workspaceId), rollable())!),
      insertEventIf(db, auditRow("api_key.created", actor, fresh.id, now), newKeyExists),
      insertEventIf(db, auditRow("api_key.rolled", actor, oldId, now, { newKeyId: fresh.id, overlapSeconds }), newKeyExists),
      db
        .update(apiKeys)
        // The earlier of the key's own expiry and the end of the overlap: a
        // roll never lets a key live longer than it would have.
        .set({ rolledTo: fresh.id, expiresAt: sql`min(coalesce(${apiKeys.expiresAt}, ${oldStopsAt}), ${oldStopsAt})` })
        .where(and(eq(apiKeys.id, oldId), eq(apiKeys.workspaceId, workspaceId), newKeyExists)),
      db
        .select()
        .from(apiKeys)
        .where(and(eq(apiKeys.workspaceId, workspaceId), inArray(apiKeys.id, [oldId, fresh.id]))),
    ]),
  );

  const old = rows.find((r) => r.id === oldId);
  const created = rows.find((r) => r.id === fresh.id);
  if (!old) throw notFound("No API key with this id in this workspace.");
  if (!created) throw notRollable(old);

  // The old key's new expiry takes effect like a revoke: at once here, via KV elsewhere.
  await publishChange(env, ctx, keys, old);
  // Warm KV so the new key's first use anywhere needs no D1 read; a miss would fall through to D1.
  ctx.waitUntil(
    keys
      .publish(env, created.keyHash, toVerifiedKey(created))
      .catch((error) => log("warn", "kv_warm_failed", { keyId: created.id, error: errorMessage(error) })),
  );
  return { ...toKeyRecord(created), key };
}

/** Only an active key that was never rolled can be rolled. */
function rollable(): SQL {
  return sql`${apiKeys.revokedAt} is null and ${apiKeys.rolledTo} is null`;
}

function notRollable(old: ApiKeyRow): Problem {
  if (old.revokedAt !== null) return new Problem("conflict", "This API key is revoked; it cannot be rolled.");
  return new Problem("conflict", `This API key was already rolled (to ${old.rolledTo ?? "another key"}); roll that key instead.`);
}

/**
 * INSERT INTO api_keys SELECT … FROM api_keys WHERE <old key is rollable>:
 * the inherited columns come from the old row, the rest are the new key's
 * values. Columns are listed in the table's own order, as the insert expects.
 */
function insertSuccessor(db: Db, fresh: Omit<ApiKeyRow, Inherited>, where: SQL) {
  const inherited = new Set<string>(INHERITED);
  const values = fresh as Record<string, unknown>;
  const selected = Object.entries(getTableColumns(apiKeys)).map(([field, column]) =>
    inherited.has(field) ? sql`${column}` : sql`${values[field] ?? null}`,
  );
  return db.insert(apiKeys).select(sql`select ${sql.join(selected, sql`, `)} from ${apiKeys} where ${where}`);
}

/** An audit event inserted only when `condition` holds inside the batch (here: the new key was inserted). */
function insertEventIf(db: Db, row: AuditEventRow, condition: SQL) {
  const values = row as Record<string, unknown>;
  const selected = Object.keys(getTableColumns(auditEvents)).map((field) => {
    const value = values[field] ?? null;
    // drizzle does not JSON-encode raw values: details are stored as JSON text.
    return sql`${field === "details" && value !== null ? JSON.stringify(value) : value}`;
  });
  return db.insert(auditEvents).select(sql`select ${sql.join(selected, sql`, `)} where ${condition}`);
}

/**
 * Like storage(): any storage failure is 503 and nothing was written (the
 * batch is one transaction). The exception is the unique index on
 * rolled_from: that is a concurrent roll winning, which the client must hear
 * as 409, not as "retry".
 */
async function rollStorage<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (error) {
    if (isRolledFromConflict(error)) throw new Problem("conflict", "This API key was rolled by a concurrent request.");
    log("error", "storage_error", { op: "roll_key", error: errorMessage(error) });
    throw unavailable();
  }
}

function isRolledFromConflict(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    if (/UNIQUE constraint failed: api_keys\.rolled_from/.test(e.message)) return true;
  }
  return false;
}
