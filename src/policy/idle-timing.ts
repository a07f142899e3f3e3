import { DAY_MS } from "../keys/guard-rails";

/**
 * When the idle rule warns about a key and when it may revoke it. A key's
 * idle time runs from `since`: its last use, or its creation if never used.
 *
 * - Warning: once the key has been unused for idleRevokeDays − 7 days (but at
 *   least a day, so that with a 7-day rule a key in use is not warned every
 *   time it rests for an hour), an `idle` signal announces its revocation.
 * - Revocation: at the later of idleRevokeDays after `since` and 7 days after
 *   the warning. A warning is about one setting of the rule (idleDedupe): a new
 *   or changed rule warns anew, so it revokes nothing in its first week, and
 *   every revocation was announced at least a week before under the rule
 *   that makes it.
 *
 * A use in between moves `since`, which makes the warning stale: the key is
 * spared, and warned again only once it is idle again.
 */

/** How long before an idle revocation its warning goes out, at least. */
export const IDLE_WARNING_MS = 7 * DAY_MS;
/** The shortest time unused after which a key is warned (for rules of fewer than 8 days). */
export const IDLE_MIN_WARN_AFTER_MS = DAY_MS;

/** How long a key must have been unused before it is warned. */
export const warnAfterMs = (idleRevokeDays: number) => Math.max(idleRevokeDays * DAY_MS - IDLE_WARNING_MS, IDLE_MIN_WARN_AFTER_MS);

/** The earliest time a key unused since `since`, warned at `warnedAt`, may be revoked. */
export const idleRevokeAt = (idleRevokeDays: number, since: number, warnedAt: number) =>
  Math.max(since + idleRevokeDays * DAY_MS, warnedAt + IDLE_WARNING_MS);

/**
 * The signal's dedupe: one warning per key, time unused since, and setting of
 * the rule. A use changes `since` (the key is spared; a later idle spell is
 * warned anew); changing the rule changes `idleSetAt` (keys are warned again,
 * with the revocation date the new rule gives).
 */
export const idleDedupe = (keyId: string, since: number, idleSetAt: number) => `idle:${keyId}:${since}:${idleSetAt}`;
