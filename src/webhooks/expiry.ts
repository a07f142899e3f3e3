import { sql } from "drizzle-orm";
import { database } from "../db/client";
import type { Env } from "../env";

/**
 * The expiry signals, written by the cron into the signal outbox (key_signals)
 * for the producer to turn into events: `expiring` once each at 14, 7 and 1
 * days before a key's expiresAt, `expired` once when it has passed. Each is
 * one INSERT … SELECT in D1 over the active keys' expiry index, its `dedupe`
 * naming the key, the expiry and the threshold, so "once" is a fact of the
 * database (a second insert does nothing), and a key whose expiry moves
 * earlier (a roll ends it at the overlap) is warned again for its new date.
 *
 * A key only gets the nearest threshold it is inside: one created 3 days
 * before it expires gets the 7-day warning at once (`daysLeft` 3) and the
 * 1-day one later, never a 14-day warning that was never true. Revoked keys
 * get neither. `expired` looks back a week: a key that expired longer ago
 * while the cron did not run is not announced.
 */

const DAY_MS = 86_400_000;
/** Days before expiresAt, largest first: each warns for keys between it and the next smaller one. */
export const EXPIRING_THRESHOLDS_DAYS = [14, 7, 1] as const;
const EXPIRED_LOOKBACK_MS = 7 * DAY_MS;
/** Signals per statement; a statement that fills it runs again (bounded by MAX_STATEMENTS). */
const CHUNK = 500;
const MAX_STATEMENTS = 20;

export interface ExpirySignals {
  expiring: number;
  expired: number;
}

/** Writes the expiry signals due at `now`; answers how many were new. */
export async function signalExpiries(env: Env, now: number): Promise<ExpirySignals> {
  const db = database(env.DB);
  let statements = 0;
  const run = async (statement: ReturnType<typeof sql>) => {
    let written = 0;
    for (;;) {
      const result = await db.run(statement);
      statements++;
      written += result.meta.changes;
      if (result.meta.changes < CHUNK || statements >= MAX_STATEMENTS) return written;
    }
  };
  let expiring = 0;
  for (const [i, days] of EXPIRING_THRESHOLDS_DAYS.entries()) {
    const nearer = EXPIRING_THRESHOLDS_DAYS[i + 1] ?? 0;
    expiring += await run(expiringStatement(now, days, nearer));
  }
  const expired = await run(expiredStatement(now));
  return { expiring, expired };
}

function expiringStatement(now: number, days: number, nearerDays: number) {
  // The threshold is written into the text as a literal (one of three constants): a bound number could come back "14.0".
  const dedupe = sql`'expiring:' || k.id || ':' || k.expires_at || ':' || ${sql.raw(String(Math.trunc(days)))}`;
  return sql`
    insert into key_signals (id, key_id, workspace_id, kind, dedupe, at, data)
    select 'sig_' || lower(hex(randomblob(12))), k.id, k.workspace_id, 'expiring', ${dedupe}, ${now},
           json_object('daysLeft', cast((k.expires_at - ${now} + ${DAY_MS - 1}) / ${DAY_MS} as integer))
    from api_keys k
    where k.revoked_at is null and k.expires_at is not null
      and k.expires_at > ${now + nearerDays * DAY_MS} and k.expires_at <= ${now + days * DAY_MS}
      and not exists (select 1 from key_signals s where s.dedupe = ${dedupe})
    order by k.expires_at
    limit ${CHUNK}
    on conflict (dedupe) do nothing`;
}

function expiredStatement(now: number) {
  const dedupe = sql`'expired:' || k.id || ':' || k.expires_at`;
  return sql`
    insert into key_signals (id, key_id, workspace_id, kind, dedupe, at, data)
    select 'sig_' || lower(hex(randomblob(12))), k.id, k.workspace_id, 'expired', ${dedupe}, k.expires_at, json_object()
    from api_keys k
    where k.revoked_at is null and k.expires_at is not null
      and k.expires_at <= ${now} and k.expires_at > ${now - EXPIRED_LOOKBACK_MS}
      and not exists (select 1 from key_signals s where s.dedupe = ${dedupe})
    order by k.expires_at
    limit ${CHUNK}
    on conflict (dedupe) do nothing`;
}
