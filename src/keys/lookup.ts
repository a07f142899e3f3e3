import { eq } from "drizzle-orm";
import { database, errorMessage, storage } from "../db/client";
import { apiKeys } from "../db/schema";
import type { Env, WaitUntil } from "../env";
import { log } from "../http/log";
import { Memo } from "./memo";
import { toVerifiedKey } from "./records";
import { isVerifiedKey, type VerifiedKey } from "./verified-key";

/**
 * Finding a key by hash: in-isolate memo, then KV, then D1 (which refills KV).
 *
 * Revocation bound: a revoked key fails at once in the isolate that revoked it
 * (its memo entry is replaced) and in that location (KV is overwritten there).
 * Elsewhere it fails once KV's copy reaches that location (KV_CACHE_TTL_SECONDS
 * after the location last read it, and KV's propagation, up to 60 s) plus at most
 * POSITIVE_TTL_MS of memo.
 */
export const POSITIVE_TTL_MS = 10_000;
export const NEGATIVE_TTL_MS = 3_000;
/** Smallest edge cache time KV accepts for reads. */
export const KV_CACHE_TTL_SECONDS = 30;
/** Longest wait for a KV read before D1 answers instead. KV answers in milliseconds when healthy. */
export const KV_READ_TIMEOUT_MS = 500;
/** KV copies age out after a day; D1 stays the source of truth. */
export const KV_EXPIRATION_SECONDS = 86_400;

const RECORD_BYTES = 512;

// Separate bounds for known and unknown hashes, so a flood of made-up keys
// can neither evict real ones nor reach D1 more than once per NEGATIVE_TTL_MS.
const known = new Memo<VerifiedKey>({ maxEntries: 10_000, maxBytes: 10_000 * RECORD_BYTES });
const unknown = new Memo<true>({ maxEntries: 5_000, maxBytes: 5_000 * 80 });
const inflight = new Map<string, Promise<VerifiedKey | null>>();

export const kvKey = (hash: string) => `key:${hash}`;

export async function findKeyByHash(env: Env, hash: string, ctx: WaitUntil): Promise<VerifiedKey | null> {
  // The benchmark's "no cache" baseline: every request asks D1.
  if (env.BENCH_DISABLE_CACHE === "1") return readD1(env, hash);
  const hit = known.get(hash);
  if (hit) return hit;
  if (unknown.get(hash)) return null;

  // Concurrent misses for one hash share a single KV/D1 lookup.
  let pending = inflight.get(hash);
  if (!pending) {
    pending = lookUp(env, hash, ctx).finally(() => {
      if (inflight.get(hash) === pending) inflight.delete(hash);
    });
    inflight.set(hash, pending);
  }
  return pending;
}

// Bumped whenever this isolate changes a key, so that lookups in flight at
// that moment do not put what they read (possibly from before the change)
// into the memo. One counter for all keys: no per-key state to bound, and a
// revocation is rare enough that its cost (in-flight lookups of other keys
// skip the memo once) does not matter.
let generation = 0;

async function lookUp(env: Env, hash: string, ctx: WaitUntil): Promise<VerifiedKey | null> {
  const startedAt = generation;
  let record = await readKv(env, hash);
  if (!record) {
    record = await readD1(env, hash);
    if (record) ctx.waitUntil(refillKv(env, hash, record));
  }
  // A revocation in this isolate while we were reading wins over what we read.
  if (generation !== startedAt) return known.get(hash) ?? (await readD1(env, hash));
  if (record) known.set(hash, record, POSITIVE_TTL_MS, RECORD_BYTES);
  else unknown.set(hash, true, NEGATIVE_TTL_MS, 80);
  return record;
}

async function readKv(env: Env, hash: string): Promise<VerifiedKey | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    // A KV read that hangs must not hang the request: after KV_READ_TIMEOUT_MS
    // D1, the source of truth, answers instead (as when KV fails).
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`KV read timed out after ${KV_READ_TIMEOUT_MS} ms`)), KV_READ_TIMEOUT_MS);
    });
    const value = await Promise.race([
      env.KEY_CACHE.get<unknown>(kvKey(hash), { type: "json", cacheTtl: KV_CACHE_TTL_SECONDS }),
      timeout,
    ]);
    if (value === null || isVerifiedKey(value)) return value;
    log("warn", "kv_record_invalid", {});
    return null;
  } catch (error) {
    // KV is only a cache: when it fails, D1 answers.
    log("warn", "kv_read_failed", { error: errorMessage(error) });
    return null;
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

async function readD1(env: Env, hash: string): Promise<VerifiedKey | null> {
  const row = await storage("key_by_hash", () =>
    database(env.DB).select().from(apiKeys).where(eq(apiKeys.keyHash, hash)).get(),
  );
  return row ? toVerifiedKey(row) : null;
}

/**
 * Writes D1's answer to KV. A revocation can land between our D1 read and this
 * write and be overwritten by our older copy, so after writing we read D1
 * once more and, if the key was revoked meanwhile, write the revoked state.
 */
async function refillKv(env: Env, hash: string, record: VerifiedKey): Promise<void> {
  try {
    await writeKv(env, hash, record);
    if (record.revokedAt !== null) return;
    const fresh = await readD1(env, hash);
    if (fresh && fresh.revokedAt !== null) await writeKv(env, hash, fresh);
  } catch (error) {
    log("warn", "kv_refill_failed", { error: errorMessage(error) });
  }
}

export function writeKv(env: Env, hash: string, record: VerifiedKey): Promise<void> {
  return env.KEY_CACHE.put(kvKey(hash), JSON.stringify(record), { expirationTtl: KV_EXPIRATION_SECONDS });
}

/** Puts a key's new state into this isolate's memo, ahead of any in-flight read. */
export function rememberKey(hash: string, record: VerifiedKey): void {
  generation++;
  inflight.delete(hash);
  unknown.delete(hash);
  known.set(hash, record, POSITIVE_TTL_MS, RECORD_BYTES);
}

/** For tests and the bench: forget everything this isolate remembers. */
export function clearKeyMemo(): void {
  known.clear();
  unknown.clear();
  inflight.clear();
}
