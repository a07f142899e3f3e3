import { errorMessage, log } from "../../lib/log";
import { raceTimeout, TIMED_OUT } from "../../lib/race-timeout";
import { isVerifiedKey, type VerifiedKey } from "./verified-key";

/**
 * The KV copy of a key's verification record, shared by every isolate of
 * every location. KV is only a cache: a read that fails, hangs or finds a
 * damaged entry answers "no copy" (D1 then answers), never an error.
 *
 * One writer: the change courier (src/delivery/), which writes a key's copy
 * after every change and acknowledges the change only once KV took it. No
 * request writes KV, so no slow request can put an older state back over a
 * newer one. Copies do not expire: every key has one, revoked keys included,
 * and D1 stays the source of truth.
 */

/** Smallest edge cache time KV accepts for reads, in seconds. */
export const KV_CACHE_TTL_SECONDS = 30;

export const kvKey = (hash: string) => `key:${hash}`;

export const DAMAGED = Symbol("damaged KV copy");

export function writeKvCopy(kv: KVNamespace, hash: string, record: VerifiedKey): Promise<void> {
  return kv.put(kvKey(hash), JSON.stringify(record));
}

/**
 * The key's copy; null when KV has none, fails, or takes longer than
 * `timeoutMs` (a hung read must not hang the request); DAMAGED when what KV
 * holds is not a key's record (D1 answers, and the courier writes it again).
 */
export async function readKvCopy(kv: KVNamespace, hash: string, timeoutMs: number): Promise<VerifiedKey | null | typeof DAMAGED> {
  try {
    const value = await raceTimeout(kv.get<unknown>(kvKey(hash), { type: "json", cacheTtl: KV_CACHE_TTL_SECONDS }), timeoutMs);
    if (value === TIMED_OUT) throw new Error(`KV read timed out after ${timeoutMs} ms`);
    if (value === null) return null;
    if (isVerifiedKey(value)) {
      // A copy written before keys had versions is older than any change.
      value.version ??= 0;
      value.budgetId ??= value.id;
      return value;
    }
    log("warn", "kv_record_invalid", {});
    return DAMAGED;
  } catch (error) {
    log("warn", "kv_read_failed", { error: errorMessage(error) });
    return null;
  }
}
