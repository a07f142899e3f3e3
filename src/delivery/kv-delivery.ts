import { and, asc, eq, isNull, lte, min } from "drizzle-orm";
import { database } from "../db/client";
import { type ApiKeyRow, apiKeys, keyChanges } from "../db/schema";
import { toVerifiedKey } from "../keys/records";
import { writeKvCopy } from "../keys/verify/kv-copy";
import { errorMessage, log } from "../lib/log";

/**
 * One pass of delivering the change log to KV: the keys whose change KV does
 * not hold yet get their current state written, and each change is
 * acknowledged only once KV took a state at least as new. A write that fails
 * is retried later with back-off (RETRY_DELAYS_MS), however long KV is down;
 * nothing is ever dropped.
 *
 * The state written is the key's row as D1 holds it when the pass reads it,
 * in the same statement that reads the changes: it includes every change the
 * pass acknowledges for that key. Passes never overlap (the courier runs one
 * at a time), and nothing else writes KV, so a slower writer can never put an
 * older state over a newer one.
 *
 * The same pass writes the copies of keys KV has never had from the courier
 * (kv_version null: keys from before the change log), so that every key
 * ends up with a copy that does not expire.
 */

/** Keys whose copies one pass writes at most: inside the 1 000 KV operations a Worker invocation may make. */
export const KEYS_PER_PASS = 100;
/** Changes one pass reads at most (several changes of one key take one write). */
const CHANGES_PER_PASS = 500;
/** KV writes under way at once. */
const WRITE_CONCURRENCY = 10;
/**
 * Delay before the next attempt after n failed ones: doubling from one
 * second, then every five minutes for as long as KV keeps failing. KV
 * refuses more than one write per second to one key, hence the first step.
 */
export const retryDelayMs = (failedAttempts: number) => Math.min(300_000, 1_000 * 2 ** Math.min(failedAttempts - 1, 9));

export interface DeliveryReport {
  /** Keys whose copy was written. */
  written: number;
  /** Keys whose write failed (their changes are retried later). */
  failed: number;
  /** More work was due now than one pass does: run another pass soon. */
  more: boolean;
  /** The earliest next attempt of a change still waiting, or null when none waits. */
  nextAttemptAt: number | null;
}

interface Due {
  row: ApiKeyRow;
  /** The changes this write acknowledges (none for a key that only lacks its first copy). */
  seqs: number[];
}

export async function deliverToKv(env: { DB: D1Database; KEY_CACHE: KVNamespace }, now: number): Promise<DeliveryReport> {
  const db = database(env.DB);
  const changes = await db
    .select({ seq: keyChanges.seq, key: apiKeys })
    .from(keyChanges)
    .innerJoin(apiKeys, eq(apiKeys.id, keyChanges.keyId))
    .where(and(isNull(keyChanges.kvDeliveredAt), lte(keyChanges.kvNextAttemptAt, now)))
    .orderBy(asc(keyChanges.seq))
    .limit(CHANGES_PER_PASS);

  const due = new Map<string, Due>();
  for (const { seq, key } of changes) {
    const entry = due.get(key.id);
    if (entry) entry.seqs.push(seq);
    else if (due.size < KEYS_PER_PASS) due.set(key.id, { row: key, seqs: [seq] });
  }
  let more = changes.length === CHANGES_PER_PASS || due.size === KEYS_PER_PASS;
  if (due.size < KEYS_PER_PASS) {
    const uncopied = await db
      .select()
      .from(apiKeys)
      .where(isNull(apiKeys.kvVersion))
      .limit(KEYS_PER_PASS - due.size + 1);
    for (const row of uncopied) {
      if (due.has(row.id)) continue;
      if (due.size === KEYS_PER_PASS) {
        more = true;
        break;
      }
      due.set(row.id, { row, seqs: [] });
    }
  }

  const written: Due[] = [];
  const failed: Due[] = [];
  const work = [...due.values()];
  for (let i = 0; i < work.length; i += WRITE_CONCURRENCY) {
    await Promise.all(
      work.slice(i, i + WRITE_CONCURRENCY).map(async (item) => {
        try {
          await writeKvCopy(env.KEY_CACHE, item.row.keyHash, toVerifiedKey(item.row));
          written.push(item);
        } catch (error) {
          failed.push(item);
          log("warn", "kv_delivery_failed", { keyId: item.row.id, error: errorMessage(error) });
        }
      }),
    );
  }

  // Acknowledgements in one D1 batch (plain statements: the rows travel as one JSON parameter each).
  const statements: D1PreparedStatement[] = [];
  const acknowledged = written.flatMap((item) => item.seqs);
  if (acknowledged.length > 0) {
    statements.push(
      env.DB.prepare("UPDATE key_changes SET kv_delivered_at = ?1 WHERE seq IN (SELECT value FROM json_each(?2))").bind(
        now,
        JSON.stringify(acknowledged),
      ),
    );
  }
  if (written.length > 0) {
    // The version KV now holds; never lowered (a later pass may have written a newer one).
    statements.push(
      env.DB.prepare(
        `UPDATE api_keys SET kv_version = w.value ->> 1
         FROM json_each(?1) AS w
         WHERE api_keys.id = w.value ->> 0 AND (api_keys.kv_version IS NULL OR api_keys.kv_version < w.value ->> 1)`,
      ).bind(JSON.stringify(written.map((item) => [item.row.id, item.row.version]))),
    );
  }
  const retried = failed.flatMap((item) => item.seqs);
  if (retried.length > 0) {
    // Each change's own back-off (retryDelayMs), computed from its attempts so far.
    statements.push(
      env.DB.prepare(
        `UPDATE key_changes SET kv_attempts = kv_attempts + 1,
           kv_next_attempt_at = ?1 + min(300000, 1000 * (1 << min(kv_attempts, 9)))
         WHERE seq IN (SELECT value FROM json_each(?2))`,
      ).bind(now, JSON.stringify(retried)),
    );
  }
  if (statements.length > 0) await env.DB.batch(statements);

  const [waiting] = await db
    .select({ next: min(keyChanges.kvNextAttemptAt) })
    .from(keyChanges)
    .where(isNull(keyChanges.kvDeliveredAt));
  if (written.length + failed.length > 0) {
    log("info", "kv_delivery", { written: written.length, failed: failed.length, acknowledged: acknowledged.length });
  }
  return { written: written.length, failed: failed.length, more, nextAttemptAt: waiting?.next ?? null };
}
