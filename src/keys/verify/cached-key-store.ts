import type { Env, WaitUntil } from "../../env";
import { errorMessage, log } from "../../lib/log";
import { raceTimeout, TIMED_OUT } from "../../lib/race-timeout";
import { courier } from "../courier";
import { ChangeFeed, COVERAGE_MS, type FeedSnapshot } from "./change-feed";
import { readKeyByHash as readD1 } from "./d1-lookup";
import type { KeyStore } from "./key-store";
import { DAMAGED, readKvCopy } from "./kv-copy";
import { Memo } from "./memo";
import { newerState, type VerifiedKey } from "./verified-key";

/** Times and sizes of the cached key store, in milliseconds unless named otherwise; the defaults are production's. */
export interface CachedKeyStoreOptions {
  /**
   * How old the change feed's snapshot may be before a request waits for a
   * newer one (a busy isolate refreshes it in the background long before).
   * With the feed's own refresh age this sets the bound. Default FEED_TRUST_MS.
   */
  feedTrustMs?: number;
  /**
   * While the change feed cannot be read: how long after it last vouched for
   * a remembered key (or after the key was read, if later) the key is still
   * trusted. This is the first release's share of the fallback bound.
   * Default MAX_AGE_MS.
   */
  maxAgeMs?: number;
  /** How long a hash is remembered as unknown. Default 3 000. */
  unknownTtlMs?: number;
  /** Longest a request waits on another request's lookup of the same hash before doing its own. Default 1 000. */
  sharedLookupWaitMs?: number;
  /** Longest wait for a KV read before D1 answers instead. Default 500. */
  kvReadTimeoutMs?: number;
  /** Keys remembered at most (entries; each counted as RECORD_BYTES). Default 10 000. */
  maxKeys?: number;
  /** Unknown hashes remembered at most. Default 5 000. */
  maxUnknown?: number;
  /** The change feed; tests give isolates of different "locations" feeds with caches of their own. */
  feed?: ChangeFeed;
}

/** Past this age of its change-feed snapshot, an isolate waits for a newer one before trusting what it holds. */
export const FEED_TRUST_MS = 3_000;
/** Fallback (feed unreadable): a remembered key is trusted this long after the feed last vouched for it. */
export const MAX_AGE_MS = 30_000;
/** While the feed fails, it is tried again (behind requests, never before them) at most this often. */
export const FEED_RETRY_MS = 5_000;
/** The fallback is logged at most this often per isolate. */
const FALLBACK_LOG_MS = 60_000;
const RECORD_BYTES = 512;
const UNKNOWN_BYTES = 80;
const NEVER = Number.NEGATIVE_INFINITY;

interface Remembered {
  record: VerifiedKey;
  /** When this state was read (or learned from the feed). */
  fetchedAt: number;
}

/**
 * Finding a key by hash: the in-isolate memo, then KV, then D1; and the
 * change feed, which says which keys changed and what they are now.
 *
 * Bound: a change takes effect at once in the isolate that made it
 * (`remember`), and everywhere else as soon as an isolate's snapshot of the
 * feed is newer than the change. A busy isolate refreshes its snapshot in
 * the background once it is older than the feed's refresh age (1 s), and a
 * location's snapshot is itself at most that old, so a change is refused
 * within about 2 s plus a D1 read; a request never trusts a snapshot older
 * than FEED_TRUST_MS (3 s) without waiting for a newer one. Hence "within
 * 5 s of the 200, everywhere" while D1 answers.
 *
 * While the feed vouches, a remembered key stays good until the feed names
 * it: no periodic re-reads, whatever the number of keys. KV is read for keys
 * new to the isolate only, and a KV copy the feed knows to be older is
 * ignored. Records only move forward (newerState): no read, however late it
 * lands, replaces a newer state, and revoked is final.
 *
 * Fallback: when the feed cannot be read, a key is trusted MAX_AGE_MS after
 * the feed last vouched for it, then read again from KV (whose copy may lag
 * by KV's propagation), the first release's bound; the isolate logs that it
 * fell back.
 */
export class CachedKeyStore implements KeyStore {
  readonly #feed: ChangeFeed;
  readonly #feedTrustMs: number;
  readonly #maxAgeMs: number;
  readonly #unknownTtlMs: number;
  readonly #sharedLookupWaitMs: number;
  readonly #kvReadTimeoutMs: number;
  // Separate bounds for known and unknown hashes, so a flood of made-up keys
  // can neither evict real ones nor reach D1 more than once per unknownTtlMs.
  readonly #known: Memo<Remembered>;
  readonly #unknown: Memo<true>;
  readonly #inflight = new Map<string, Promise<VerifiedKey | null>>();
  /** The keys the newest snapshot names, with their state: what KV copies are checked against. */
  #recent = new Map<string, VerifiedKey>();
  /** When the newest snapshot applied was read from D1; NEVER before the first. */
  #feedReadAt = NEVER;
  #feedFailedAt = NEVER;
  /** A read of the feed is under way behind the requests. */
  #following = false;
  #fallbackLoggedAt = NEVER;
  /** Remembered keys read before this are read again: the feed cannot vouch for them (a gap, a first snapshot). */
  #trustedSince = NEVER;

  constructor(options: CachedKeyStoreOptions = {}) {
    this.#feed = options.feed ?? new ChangeFeed();
    this.#feedTrustMs = options.feedTrustMs ?? FEED_TRUST_MS;
    this.#maxAgeMs = options.maxAgeMs ?? MAX_AGE_MS;
    this.#unknownTtlMs = options.unknownTtlMs ?? 3_000;
    this.#sharedLookupWaitMs = options.sharedLookupWaitMs ?? 1_000;
    this.#kvReadTimeoutMs = options.kvReadTimeoutMs ?? 500;
    const maxKeys = options.maxKeys ?? 10_000;
    const maxUnknown = options.maxUnknown ?? 5_000;
    // Entries do not age out while the feed vouches for them; the memo's own
    // expiry is only a backstop far beyond any bound (the LRU bounds its size).
    this.#known = new Memo({ maxEntries: maxKeys, maxBytes: maxKeys * RECORD_BYTES });
    this.#unknown = new Memo({ maxEntries: maxUnknown, maxBytes: maxUnknown * UNKNOWN_BYTES });
  }

  async find(env: Env, hash: string, ctx: WaitUntil, requestUrl: string): Promise<VerifiedKey | null> {
    const now = Date.now();
    const feedAge = now - this.#feedReadAt;
    if (feedAge >= this.#feed.refreshAfterMs) {
      if (this.#feedFailedAt > this.#feedReadAt) {
        // The feed is failing: requests use the fallback bound and never wait
        // on it; it is tried again behind them, once per FEED_RETRY_MS, so a
        // D1 outage is not met with a read per request.
        if (now - this.#feedFailedAt >= FEED_RETRY_MS) this.#followBehind(env, requestUrl, ctx);
      } else if (feedAge < this.#feedTrustMs || this.#following) {
        // The hot path: a busy isolate's snapshot is refreshed behind its
        // requests. A refresh already under way that has not answered by the
        // time the snapshot is too old to vouch (D1 hanging) is not waited
        // for either: its failure starts the fallback.
        this.#followBehind(env, requestUrl, ctx);
      } else {
        // A new isolate, or one idle for seconds: nothing it holds is vouched
        // for, so the request waits for one read, shared by every request
        // meanwhile. The location's copy will do while it can still vouch
        // (younger than feedTrustMs): D1 joins this path only when the whole
        // location has been idle that long.
        await this.#followFeed(env, requestUrl, this.#feedTrustMs);
      }
    }
    const hit = this.#known.get(hash, now);
    if (hit && this.#trusted(hit, now)) return hit.record;
    if (!hit && this.#unknown.get(hash, now)) return null;
    return this.#sharedLookup(env, hash, ctx);
  }

  remember(hash: string, record: VerifiedKey): void {
    this.#unknown.delete(hash);
    this.#keep(hash, record, Date.now());
  }

  async announce(env: Env, requestUrl: string): Promise<void> {
    try {
      this.#apply(await this.#feed.read(env.DB, new URL(requestUrl).origin, { fresh: true }));
    } catch (error) {
      log("warn", "change_feed_announce_failed", { error: errorMessage(error) });
    }
  }

  /** Whether a remembered key may be used without reading it again. */
  #trusted(hit: Remembered, now: number): boolean {
    if (hit.fetchedAt < this.#trustedSince) return false;
    if (now - this.#feedReadAt < this.#feedTrustMs) return true;
    // The feed cannot vouch (unreadable): the first release's bound, counted from when it last could.
    this.#logFallback(now);
    return now - Math.max(hit.fetchedAt, this.#feedReadAt) < this.#maxAgeMs;
  }

  #followBehind(env: Env, requestUrl: string, ctx: WaitUntil): void {
    if (this.#following) return;
    this.#following = true;
    ctx.waitUntil(
      this.#followFeed(env, requestUrl).finally(() => {
        this.#following = false;
      }),
    );
  }

  async #followFeed(env: Env, requestUrl: string, acceptAgeMs?: number): Promise<void> {
    let snapshot: FeedSnapshot;
    try {
      snapshot = await this.#feed.read(env.DB, new URL(requestUrl).origin, { acceptAgeMs });
    } catch (error) {
      this.#feedFailedAt = Date.now();
      this.#logFallback(this.#feedFailedAt, error);
      return;
    }
    this.#apply(snapshot);
  }

  /** Takes in a snapshot: every key it names is now what it says (if newer than what is held). */
  #apply(snapshot: FeedSnapshot): void {
    if (snapshot.readAt <= this.#feedReadAt) return;
    // Continuity: a snapshot covers the changes of its window, so two read
    // further apart than COVERAGE_MS may leave changes in between unseen; a
    // truncated one names only some. Then nothing held can be vouched for.
    if (snapshot.truncated || snapshot.readAt - this.#feedReadAt > COVERAGE_MS) {
      this.#trustedSince = snapshot.truncated ? snapshot.readAt : snapshot.readAt - COVERAGE_MS;
    }
    for (const [hash, record] of snapshot.keys) {
      this.#unknown.delete(hash);
      if (this.#known.get(hash)) this.#keep(hash, record, snapshot.readAt);
    }
    this.#recent = snapshot.keys;
    this.#feedReadAt = snapshot.readAt;
  }

  /** Remembers a key's state unless a newer one is held (records only move forward). */
  #keep(hash: string, record: VerifiedKey, fetchedAt: number): VerifiedKey {
    const held = this.#known.get(hash);
    const kept = held ? newerState(held.record, record) : record;
    if (!held || kept !== held.record || fetchedAt > held.fetchedAt) {
      this.#known.set(
        hash,
        { record: kept, fetchedAt: Math.max(fetchedAt, held?.fetchedAt ?? NEVER) },
        Number.MAX_SAFE_INTEGER,
        RECORD_BYTES,
      );
    }
    return kept;
  }

  #logFallback(now: number, error?: unknown): void {
    if (now - this.#fallbackLoggedAt < FALLBACK_LOG_MS) return;
    this.#fallbackLoggedAt = now;
    log("warn", "change_feed_unreadable", {
      fallback: `keys trusted ${this.#maxAgeMs} ms after the feed last vouched for them, then read from KV`,
      ...(error === undefined ? {} : { error: errorMessage(error) }),
    });
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
   * KV's copy, unless the feed knows a newer state; D1 when KV has none. The
   * result joins what the memo holds by newerState, so a lookup that lands
   * after a change made here (or learned from the feed) cannot undo it.
   */
  async #lookUp(env: Env, hash: string, ctx: WaitUntil): Promise<VerifiedKey | null> {
    const fetchedAt = Date.now();
    const copy = await readKvCopy(env.KEY_CACHE, hash, this.#kvReadTimeoutMs);
    let record = copy === DAMAGED ? null : copy;
    const recent = this.#recent.get(hash);
    if (recent && (!record || recent.version > record.version)) record = recent;
    const fromD1 = !record;
    if (fromD1) record = await readD1(env, hash);
    // D1 fills KV on a miss (and a damaged copy is written again), through the
    // courier: the one writer of KV, so this late write can never put an older
    // state over a newer one.
    if (record && (fromD1 || copy === DAMAGED))
      ctx.waitUntil(
        courier(env)
          .refill([hash], copy === DAMAGED)
          .catch(() => {}),
      );
    if (!record) {
      this.#known.delete(hash);
      this.#unknown.set(hash, true, this.#unknownTtlMs, UNKNOWN_BYTES);
      return null;
    }
    this.#unknown.delete(hash);
    return this.#keep(hash, record, fetchedAt);
  }
}
