import type { Env, WaitUntil } from "../env";
import { errorMessage, log } from "../log";
import type { KeyStore } from "./key-store";
import { Memo } from "./memo";
import { readKeyByHash as readD1 } from "./key-by-hash";
import { isVerifiedKey, type VerifiedKey } from "./verified-key";

/**
 * Times of the cached key store. Every figure is in milliseconds unless named
 * otherwise; the defaults are what production uses.
 */
export interface CachedKeyStoreOptions {
  /**
   * Age after which a remembered key is refreshed from KV in the background
   * while requests keep being served from the memo (stale-while-revalidate),
   * so a hot key never waits on KV. Default 10 000.
   */
  refreshAfterMs?: number;
  /**
   * Age past which a remembered key is not trusted at all: the request waits
   * for a fresh read. This is this isolate's share of the revocation bound.
   * Default 30 000.
   */
  maxAgeMs?: number;
  /** How long a hash is remembered as unknown. Default 3 000. */
  unknownTtlMs?: number;
  /**
   * Longest a request waits on another request's lookup of the same hash
   * before doing its own. Default 1 000.
   */
  sharedLookupWaitMs?: number;
  /** Longest wait for a KV read before D1 answers instead. Default 500. */
  kvReadTimeoutMs?: number;
  /** Keys remembered at most (entries; each counted as RECORD_BYTES). Default 10 000. */
  maxKeys?: number;
  /** Unknown hashes remembered at most. Default 5 000. */
  maxUnknown?: number;
}

/** Smallest edge cache time KV accepts for reads, in seconds. */
export const KV_CACHE_TTL_SECONDS = 30;
/** KV copies age out after a day; D1 stays the source of truth. */
export const KV_EXPIRATION_SECONDS = 86_400;
const RECORD_BYTES = 512;
const UNKNOWN_BYTES = 80;

export const kvKey = (hash: string) => `key:${hash}`;

interface Remembered {
  record: VerifiedKey;
  fetchedAt: number;
  /** When a background refresh was started, while one may be running. */
  refreshingSince: number | null;
}

/**
 * Finding a key by hash: in-isolate memo, then KV, then D1 (which refills KV).
 *
 * Revocation bound: a revoked or changed key takes effect at once in the
 * isolate that changed it (`remember`) and in its location (KV is written
 * there). Elsewhere, once KV's copy reaches that location (up to 60 s of KV
 * propagation, plus KV_CACHE_TTL_SECONDS of edge caching) an isolate accepts
 * the old state for at most `maxAgeMs` more.
 */
export class CachedKeyStore implements KeyStore {
  readonly #refreshAfterMs: number;
  readonly #maxAgeMs: number;
  readonly #unknownTtlMs: number;
  readonly #sharedLookupWaitMs: number;
  readonly #kvReadTimeoutMs: number;
  // Separate bounds for known and unknown hashes, so a flood of made-up keys
  // can neither evict real ones nor reach D1 more than once per unknownTtlMs.
  readonly #known: Memo<Remembered>;
  readonly #unknown: Memo<true>;
  readonly #inflight = new Map<string, Promise<VerifiedKey | null>>();
  // Bumped whenever this isolate changes a key, so that lookups in flight at
  // that moment do not put what they read (possibly from before the change)
  // into the memo. One counter for all keys: no per-key state to bound, and a
  // change is rare enough that its cost (in-flight lookups of other keys skip
  // the memo once) does not matter.
  #generation = 0;

  constructor(options: CachedKeyStoreOptions = {}) {
    this.#refreshAfterMs = options.refreshAfterMs ?? 10_000;
    this.#maxAgeMs = options.maxAgeMs ?? 30_000;
    this.#unknownTtlMs = options.unknownTtlMs ?? 3_000;
    this.#sharedLookupWaitMs = options.sharedLookupWaitMs ?? 1_000;
    this.#kvReadTimeoutMs = options.kvReadTimeoutMs ?? 500;
    const maxKeys = options.maxKeys ?? 10_000;
    const maxUnknown = options.maxUnknown ?? 5_000;
    this.#known = new Memo({ maxEntries: maxKeys, maxBytes: maxKeys * RECORD_BYTES });
    this.#unknown = new Memo({ maxEntries: maxUnknown, maxBytes: maxUnknown * UNKNOWN_BYTES });
  }

  async find(env: Env, hash: string, ctx: WaitUntil): Promise<VerifiedKey | null> {
    const now = Date.now();
    const hit = this.#known.get(hash, now);
    if (hit) {
      const age = now - hit.fetchedAt;
      if (age < this.#refreshAfterMs) return hit.record;
      if (age < this.#maxAgeMs) {
        this.#refreshInBackground(env, hash, hit, ctx, now);
        return hit.record;
      }
      // Too old to trust: fall through and wait for a fresh read.
    } else if (this.#unknown.get(hash, now)) {
      return null;
    }
    return this.#sharedLookup(env, hash, ctx);
  }

  remember(hash: string, record: VerifiedKey): void {
    this.#generation++;
    this.#inflight.delete(hash);
    this.#unknown.delete(hash);
    this.#known.set(hash, { record, fetchedAt: Date.now(), refreshingSince: null }, this.#maxAgeMs, RECORD_BYTES);
  }

  publish(env: Env, hash: string, record: VerifiedKey): Promise<void> {
    return env.KEY_CACHE.put(kvKey(hash), JSON.stringify(record), { expirationTtl: KV_EXPIRATION_SECONDS });
  }

  /**
   * Concurrent misses for one hash share one KV/D1 lookup, but a waiter never
   * depends on another request's lifetime for long: in Workers, I/O started by
   * a request can be cancelled with it (client gone), which would leave every
   * waiter hanging. Past sharedLookupWaitMs a waiter does its own lookup.
   */
  async #sharedLookup(env: Env, hash: string, ctx: WaitUntil): Promise<VerifiedKey | null> {
    const pending = this.#inflight.get(hash);
    if (pending) {
      const shared = await raceTimeout(pending, this.#sharedLookupWaitMs).catch((): typeof TIMED_OUT => TIMED_OUT);
      if (shared !== TIMED_OUT) return shared;
      if (this.#inflight.get(hash) === pending) this.#inflight.delete(hash);
    }
    const own = this.#lookUp(env, hash, ctx).finally(() => {
      if (this.#inflight.get(hash) === own) this.#inflight.delete(hash);
    });
    this.#inflight.set(hash, own);
    return own;
  }

  #refreshInBackground(env: Env, hash: string, hit: Remembered, ctx: WaitUntil, now: number): void {
    // One refresh at a time per key; one that never finished (its request's
    // waitUntil was cut short) stops blocking the next after sharedLookupWaitMs.
    if (hit.refreshingSince !== null && now - hit.refreshingSince < this.#sharedLookupWaitMs + this.#kvReadTimeoutMs) return;
    hit.refreshingSince = now;
    ctx.waitUntil(
      this.#lookUp(env, hash, ctx).then(
        () => undefined,
        (error) => {
          // The memo keeps serving until maxAgeMs; then requests read for themselves and fail closed.
          hit.refreshingSince = null;
          log("warn", "key_refresh_failed", { error: errorMessage(error) });
        },
      ),
    );
  }

  async #lookUp(env: Env, hash: string, ctx: WaitUntil): Promise<VerifiedKey | null> {
    const startedAt = this.#generation;
    const fetchedAt = Date.now();
    let record = await this.#readKv(env, hash);
    if (!record) {
      record = await readD1(env, hash);
      if (record) ctx.waitUntil(this.#refillKv(env, hash, record));
    }
    // A change made in this isolate while we were reading wins over what we read.
    if (this.#generation !== startedAt) return this.#known.get(hash)?.record ?? (await readD1(env, hash));
    if (record) {
      this.#unknown.delete(hash);
      this.#known.set(hash, { record, fetchedAt, refreshingSince: null }, this.#maxAgeMs, RECORD_BYTES);
    } else {
      this.#known.delete(hash);
      this.#unknown.set(hash, true, this.#unknownTtlMs, UNKNOWN_BYTES);
    }
    return record;
  }

  async #readKv(env: Env, hash: string): Promise<VerifiedKey | null> {
    try {
      // A KV read that hangs must not hang the request: after kvReadTimeoutMs
      // D1, the source of truth, answers instead (as when KV fails).
      const value = await raceTimeout(
        env.KEY_CACHE.get<unknown>(kvKey(hash), { type: "json", cacheTtl: KV_CACHE_TTL_SECONDS }),
        this.#kvReadTimeoutMs,
      );
      if (value === TIMED_OUT) throw new Error(`KV read timed out after ${this.#kvReadTimeoutMs} ms`);
      if (value === null || isVerifiedKey(value)) return value;
      log("warn", "kv_record_invalid", {});
      return null;
    } catch (error) {
      // KV is only a cache: when it fails, D1 answers.
      log("warn", "kv_read_failed", { error: errorMessage(error) });
      return null;
    }
  }

  /**
   * Writes D1's answer to KV. A change can land between our D1 read and this
   * write and be overwritten by our older copy, so after writing we read D1
   * once more and, if the key changed meanwhile, write the new state.
   */
  async #refillKv(env: Env, hash: string, record: VerifiedKey): Promise<void> {
    try {
      await this.publish(env, hash, record);
      if (record.revokedAt !== null) return;
      const fresh = await readD1(env, hash);
      if (fresh && JSON.stringify(fresh) !== JSON.stringify(record)) await this.publish(env, hash, fresh);
    } catch (error) {
      log("warn", "kv_refill_failed", { error: errorMessage(error) });
    }
  }
}

const TIMED_OUT = Symbol("timed out");

function raceTimeout<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
  });
  return Promise.race([promise, timeout]).finally(() => {
    if (timer !== undefined) clearTimeout(timer);
  });
}
