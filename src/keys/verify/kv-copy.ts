import { errorMessage, log } from "../../lib/log";
import { raceTimeout, TIMED_OUT } from "../../lib/race-timeout";
import { isVerifiedKey, type VerifiedKey } from "./verified-key";

/**
 * The KV copy of a key's verification record, shared by every isolate of
 * every location. KV is only a cache: a read that fails, hangs or finds a
 * damaged entry answers "no copy" (D1 then answers), never an error.
 */

/** Most keys one bulk KV read may ask for. */
export const KV_BULK_READ_MAX = 100;
/** Smallest edge cache time KV accepts for reads, in seconds. */
const KV_CACHE_TTL_SECONDS = 30;
/** KV copies age out after a day; D1 stays the source of truth. */
const KV_EXPIRATION_SECONDS = 86_400;

export const kvKey = (hash: string) => `key:${hash}`;

export function writeKvCopy(kv: KVNamespace, hash: string, record: VerifiedKey): Promise<void> {
  return kv.put(kvKey(hash), JSON.stringify(record), { expirationTtl: KV_EXPIRATION_SECONDS });
}

/** The key's copy, or null when KV has none, fails, or takes longer than `timeoutMs` (a hung read must not hang the request). */
export async function readKvCopy(kv: KVNamespace, hash: string, timeoutMs: number): Promise<VerifiedKey | null> {
  try {
    const value = await raceTimeout(kv.get<unknown>(kvKey(hash), { type: "json", cacheTtl: KV_CACHE_TTL_SECONDS }), timeoutMs);
    if (value === TIMED_OUT) throw new Error(`KV read timed out after ${timeoutMs} ms`);
    if (value === null || isVerifiedKey(value)) return value;
    log("warn", "kv_record_invalid", {});
    return null;
  } catch (error) {
    log("warn", "kv_read_failed", { error: errorMessage(error) });
    return null;
  }
}

/** The keys (at most KV_BULK_READ_MAX) KV has a valid copy of, by hash; none when KV fails or is slow. */
export async function readKvCopies(kv: KVNamespace, hashes: string[], timeoutMs: number): Promise<Map<string, VerifiedKey>> {
  const records = new Map<string, VerifiedKey>();
  try {
    const values = await raceTimeout(kv.get<unknown>(hashes.map(kvKey), { type: "json", cacheTtl: KV_CACHE_TTL_SECONDS }), timeoutMs);
    if (values === TIMED_OUT) throw new Error(`KV bulk read timed out after ${timeoutMs} ms`);
    for (const hash of hashes) {
      const value = values.get(kvKey(hash)) ?? null;
      if (value === null) continue;
      if (isVerifiedKey(value)) records.set(hash, value);
      else log("warn", "kv_record_invalid", {});
    }
  } catch (error) {
    log("warn", "kv_read_failed", { keys: hashes.length, error: errorMessage(error) });
    records.clear();
  }
  return records;
}
