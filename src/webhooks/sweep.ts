import { and, asc, eq, inArray, isNull, lt, ne, or, sql } from "drizzle-orm";
import { database } from "../db/client";
import { webhookDeliveries, webhookEndpoints } from "../db/schema";
import type { Env } from "../env";
import { errorMessage, log } from "../lib/log";
import { openSecret, type SecretKey, sealedWith, sealSecret } from "./secret-box";

/**
 * The cron's upkeep of deliveries and endpoints:
 * - wake-ups that were lost (a send that failed after its delivery was
 *   written, a message the queue dropped into the dead-letter queue while
 *   D1 was away…): a pending delivery whose next attempt is long past and
 *   that nobody holds is woken again;
 * - retention: finished deliveries older than 30 days are deleted;
 * - key rotation: secrets not sealed with the first key of
 *   WEBHOOK_SECRET_KEYS are sealed again with it.
 */

/** A wake-up this late is taken as lost (the queue delivers within seconds; a backlog of minutes is already a problem). */
export const LOST_AFTER_MS = 15 * 60_000;
export const RETENTION_MS = 30 * 86_400_000;
const REQUEUE_PER_RUN = 100;
const DELETE_PER_RUN = 1_000;
const RESEAL_PER_RUN = 50;

export async function requeueLost(env: Env, now: number): Promise<number> {
  const db = database(env.DB);
  const d = webhookDeliveries;
  const lost = await db
    .select({ id: d.id, nextAttemptAt: d.nextAttemptAt })
    .from(d)
    .where(and(eq(d.status, "pending"), lt(d.nextAttemptAt, now - LOST_AFTER_MS), or(isNull(d.leaseUntil), lt(d.leaseUntil, now))))
    .orderBy(asc(d.nextAttemptAt))
    .limit(REQUEUE_PER_RUN);
  if (lost.length === 0) return 0;
  const ids = lost.map((r) => r.id);
  // Due now, so the next sweep does not send another wake-up for it unless this one is lost too.
  await db
    .update(d)
    .set({ nextAttemptAt: now })
    .where(and(inArray(d.id, ids), eq(d.status, "pending")));
  await env.WEBHOOK_DELIVERIES.sendBatch(ids.map((deliveryId) => ({ body: { deliveryId }, contentType: "json" as const })));
  log("warn", "webhook_wakeups_requeued", { count: ids.length });
  return ids.length;
}

export async function deleteOld(env: Env, now: number): Promise<number> {
  const d = webhookDeliveries;
  const result = await database(env.DB).run(
    sql`delete from ${d} where ${d.id} in (select ${d.id} from ${d} where ${d.createdAt} < ${now - RETENTION_MS} and ${d.status} != 'pending' limit ${DELETE_PER_RUN})`,
  );
  return result.meta.changes;
}

/** Seals again, with the first key, the secrets another key sealed; answers how many were resealed and how many are left. */
export async function reseal(env: Env, keys: readonly SecretKey[]): Promise<{ resealed: number; left: number }> {
  const first = keys[0];
  if (!first) return { resealed: 0, left: 0 };
  const db = database(env.DB);
  const e = webhookEndpoints;
  const prefix = `v1:${first.id}:`;
  // substr, not LIKE: a key id may hold "_", LIKE's wildcard.
  const notFirst = ne(sql`substr(${e.secret}, 1, ${prefix.length})`, prefix);
  const stale = await db.select({ id: e.id, secret: e.secret }).from(e).where(notFirst).limit(RESEAL_PER_RUN);
  let resealed = 0;
  for (const row of stale) {
    try {
      const sealed = await sealSecret(keys, row.id, await openSecret(keys, row.id, row.secret));
      await db
        .update(e)
        .set({ secret: sealed })
        .where(and(eq(e.id, row.id), eq(e.secret, row.secret)));
      resealed++;
    } catch (error) {
      log("error", "webhook_secret_unreadable", { endpointId: row.id, sealedWith: sealedWith(row.secret), error: errorMessage(error) });
    }
  }
  if (stale.length === 0) return { resealed: 0, left: 0 };
  const [count] = await db.select({ n: sql<number>`count(*)` }).from(e).where(notFirst);
  const left = count?.n ?? 0;
  log("info", "webhook_secrets_resealed", { resealed, left, key: first.id });
  return { resealed, left };
}
