import type { Env, WaitUntil } from "../../env";
import { errorMessage, log } from "../../lib/log";
import { raceTimeout, TIMED_OUT } from "../../lib/race-timeout";
import { readKeyByHash as readD1, readKeysByHash as readD1Many } from "./d1-lookup";
import type { KeyStore } from "./key-store";
import { KV_BULK_READ_MAX, readKvCopies, readKvCopy, writeKvCopy } from "./kv-copy";
import { Memo } from "./memo";
import type { VerifiedKey } from "./verified-key";

/**
 * Times of the cached key store. Every figure is in milliseconds unless named
 * otherwise; the defaults are what production uses.
 */
export interface CachedKeyStoreOptions {
  /**
   * Age after which a remembered key is refreshed from KV in the background
   * while requests keep being served from the memo (stale-while-revalidate),
   * so a hot key never waits on KV. Default REFRESH_AFTER_MS.
   */
  refreshAfterMs?: number;
  /**
   * Each remembered key gets its own refresh age, drawn at random between
   * refreshAfterMs and refreshAfterMs + refreshSpreadMs: keys read together
   * (an isolate's cold start, a burst of new clients) are then not all
   * refreshed together again and again. Default REFRESH_SPREAD_MS.
   */
  refreshSpreadMs?: number;
  /**
   * Age past which a remembered key is not trusted at all: the request waits
   * for a fresh read. This is this isolate's share of the revocation bound.
   * Default MAX_AGE_MS.
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
  /**
   * How long keys due for a background refresh are gathered before one bulk
   * KV read refreshes them together (up to KV_BULK_READ_MAX per read; a full
   * batch goes at once). Default 1 000.
   */
  refreshGatherMs?: number;
  /** Keys remembered at most (entries; each counted as RECORD_BYTES). Default 10 000. */
  maxKeys?: number;
  /** Unknown hashes remembered at most. Default 5 000. */
  maxUnknown?: number;
}

/**
 * Refresh ages of a remembered key: 15 to 25 s. KV's own edge copy of a read
 * lives KV_CACHE_TTL_SECONDS (30 s), so refreshing much more often mostly
 * reads the same copy again. A key used at least every 5 s never waits on KV
 * (its refresh is due before MAX_AGE_MS), at about one read per key per 20 s.
 */
export const REFRESH_AFTER_MS = 15_000;
export const REFRESH_SPREAD_MS = 10_000;
/** Hard age of a remembered key: never trusted past it (the isolate's share of the revocation bound). */
export const MAX_AGE_MS = 30_000;
const RECORD_BYTES = 512;
const UNKNOWN_BYTES = 80;

interface Remembered {
  record: VerifiedKey;
  fetchedAt: number;
  /** When a background refresh becomes due (see refreshSpreadMs). */
  refreshAt: number;
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
  readonly #refreshSpreadMs: number;
  readonly #maxAgeMs: number;
  readonly #unknownTtlMs: number;
  readonly #sharedLookupWaitMs: number;
  readonly #kvReadTimeoutMs: number;
  readonly #refreshGatherMs: number;
  /** Past this, a refresh still marked as running is taken as lost (its waitUntil was cut short). */
  readonly #refreshStallMs: number;
  /** Keys due for a background refresh (with the memo entry each is for), waiting for the next bulk read. */
  readonly #due = new Map<string, Remembered>();
  /** When the pending bulk refresh was scheduled; null when none is. */
  #refreshScheduledAt: number | null = null;
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
    this.#refreshAfterMs = options.refreshAfterMs ?? REFRESH_AFTER_MS;
    this.#refreshSpreadMs = options.refreshSpreadMs ?? REFRESH_SPREAD_MS;
    this.#maxAgeMs = options.maxAgeMs ?? MAX_AGE_MS;
    this.#unknownTtlMs = options.unknownTtlMs ?? 3_000;
    this.#sharedLookupWaitMs = options.sharedLookupWaitMs ?? 1_000;
    this.#kvReadTimeoutMs = options.kvReadTimeoutMs ?? 500;
    this.#refreshGatherMs = options.refreshGatherMs ?? 1_000;
    this.#refreshStallMs = this.#refreshGatherMs + this.#sharedLookupWaitMs + this.#kvReadTimeoutMs;
    const maxKeys = options.maxKeys ?? 10_000;
    const maxUnknown = options.maxUnknown ?? 5_000;
    this.#known = new Memo({ maxEntries: maxKeys, maxBytes: maxKeys * RECORD_BYTES });
    this.#unknown = new Memo({ maxEntries: maxUnknown, maxBytes: maxUnknown * UNKNOWN_BYTES });
  }

  async find(env: Env, hash: string, ctx: WaitUntil): Promise<VerifiedKey | null> {
    const now = Date.now();
    const hit = this.#known.get(hash, now);
    if (hit) {
      if (now < hit.refreshAt) return hit.record;
      if (now - hit.fetchedAt < this.#maxAgeMs) {
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
    this.#known.set(hash, this.#remembered(record, Date.now()), this.#maxAgeMs, RECORD_BYTES);
  }

  publish(env: Env, hash: string, record: VerifiedKey): Promise<void> {
    return writeKvCopy(env.KEY_CACHE, hash, record);
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

  /**
   * Background refreshes are gathered for refreshGatherMs and read from KV
   * together, up to KV_BULK_READ_MAX keys per bulk read: an isolate that
   * serves thousands of keys refreshes them with a few reads a second instead
   * of one per key. Nothing waits on them; a key is trusted only until
   * maxAgeMs whether its refresh ran or not.
   */
  #refreshInBackground(env: Env, hash: string, hit: Remembered, ctx: WaitUntil, now: number): void {
    // One refresh at a time per key; one that never finished (its request's
    // waitUntil was cut short) stops blocking the next after #refreshStallMs.
    if (hit.refreshingSince === null || now - hit.refreshingSince >= this.#refreshStallMs) {
      hit.refreshingSince = now;
      this.#due.set(hash, hit);
    }
    this.#scheduleRefresh(env, ctx, now);
  }

  /**
   * One batch per scheduled run, so a request's waitUntil carries a bounded
   * amount of work (one KV read, at most one D1 query and the refills it
   * causes); keys left over are scheduled by the next request that finds a
   * key due.
   */
  #scheduleRefresh(env: Env, ctx: WaitUntil, now: number): void {
    if (this.#due.size >= KV_BULK_READ_MAX) {
      ctx.waitUntil(this.#refreshBatch(env, ctx));
      return;
    }
    if (this.#due.size === 0) return;
    if (this.#refreshScheduledAt !== null && now - this.#refreshScheduledAt < this.#refreshStallMs) return;
    this.#refreshScheduledAt = now;
    ctx.waitUntil(
      new Promise((resolve) => setTimeout(resolve, this.#refreshGatherMs)).then(() => {
        this.#refreshScheduledAt = null;
        return this.#refreshBatch(env, ctx);
      }),
    );
  }

  async #refreshBatch(env: Env, ctx: WaitUntil): Promise<void> {
    const batch = new Map<string, Remembered>();
    for (const [hash, hit] of this.#due) {
      this.#due.delete(hash);
      batch.set(hash, hit);
      if (batch.size === KV_BULK_READ_MAX) break;
    }
    if (batch.size > 0) await this.#refreshMany(env, batch, ctx).catch((error) => this.#refreshFailed([...batch.values()], error));
  }

  /** One bulk KV read for these keys; D1 answers, in one query, for those KV does not have. */
  async #refreshMany(env: Env, batch: Map<string, Remembered>, ctx: WaitUntil): Promise<void> {
    const hashes = [...batch.keys()];
    const fetchedAt = Date.now();
    const records = await readKvCopies(env.KEY_CACHE, hashes, this.#kvReadTimeoutMs);
    let answered = hashes;
    const missing = hashes.filter((hash) => !records.has(hash));
    if (missing.length > 0) {
      try {
        for (const [hash, record] of await readD1Many(env, missing)) {
          records.set(hash, record);
          ctx.waitUntil(this.#refillKv(env, hash, record));
        }
      } catch (error) {
        // What KV answered still counts; the others stay as remembered until
        // maxAgeMs, then requests read for themselves and fail closed.
        answered = hashes.filter((hash) => records.has(hash));
        this.#refreshFailed(
          missing.map((hash) => batch.get(hash)!),
          error,
        );
      }
    }
    for (const hash of answered) {
      // Only if the memo still holds the entry this refresh was for: a change
      // made in this isolate meanwhile (remember) or a fresher lookup replaced
      // it, and what we read may be older than either.
      if (this.#known.get(hash) !== batch.get(hash)) continue;
      this.#settle(hash, records.get(hash) ?? null, fetchedAt);
    }
  }

  #refreshFailed(entries: Remembered[], error: unknown): void {
    for (const hit of entries) hit.refreshingSince = null;
    log("warn", "key_refresh_failed", { keys: entries.length, error: errorMessage(error) });
  }

  async #lookUp(env: Env, hash: string, ctx: WaitUntil): Promise<VerifiedKey | null> {
    const startedAt = this.#generation;
    const fetchedAt = Date.now();
    let record = await readKvCopy(env.KEY_CACHE, hash, this.#kvReadTimeoutMs);
    if (!record) {
      record = await readD1(env, hash);
      if (record) ctx.waitUntil(this.#refillKv(env, hash, record));
    }
    // A change made in this isolate while we were reading wins over what we read.
    if (this.#generation !== startedAt) return this.#known.get(hash)?.record ?? (await readD1(env, hash));
    this.#settle(hash, record, fetchedAt);
    return record;
  }

  #remembered(record: VerifiedKey, fetchedAt: number): Remembered {
    const refreshAt = fetchedAt + this.#refreshAfterMs + Math.random() * this.#refreshSpreadMs;
    return { record, fetchedAt, refreshAt, refreshingSince: null };
  }

  /** Remembers what a lookup read: the key, or that there is no such key. */
  #settle(hash: string, record: VerifiedKey | null, fetchedAt: number): void {
    if (record) {
      this.#unknown.delete(hash);
      this.#known.set(hash, this.#remembered(record, fetchedAt), this.#maxAgeMs, RECORD_BYTES);
    } else {
      this.#known.delete(hash);
      this.#unknown.set(hash, true, this.#unknownTtlMs, UNKNOWN_BYTES);
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
