import type { WaitUntil } from "../env";
import { errorMessage, log } from "../lib/log";
import { type Entry, EntryTable, estimate, newEntry, resetEntry } from "./table";
import type { KeyRateLimiter, RateDecision, RateLimitEnv, RatePolicy } from "./types";
import { normalizePolicy, secondsUntil, windowStartOf } from "./window";

export interface WindowRateLimiterOptions {
  /** Counters kept per isolate (default 10 000, a few MB at most). */
  maxEntries?: number;
  /** Send to the Durable Object once the unsent calls reach this fraction of the quota left (default 0.1, at least 1 call). */
  syncFraction?: number;
  /** Send unsent calls at most this long after the last send, even below the fraction (default 1 000 ms). */
  syncIntervalMs?: number;
  /** After a failed sync, no new one for this key before this long (default 5 000 ms). */
  retryAfterFailureMs?: number;
  /** A sync that has not settled after this long is presumed lost and its calls re-sent (default 10 000 ms). */
  staleSyncMs?: number;
  /** false: never sync (local-only). */
  sync?: boolean;
  /** The clock for times the limiter reads itself (after a wait, a round trip); tests pass their own. */
  clock?: () => number;
  /** How a scheduled sync waits; tests pass one they control. */
  sleep?: (ms: number) => Promise<void>;
}

/** Rounds one scheduled sync may chain when calls keep arriving during its round trips; then the next call schedules anew. */
const MAX_ROUNDS = 4;

/**
 * Fixed-window limiter: exact within the isolate, synchronised across
 * isolates through one RateLimitCounter Durable Object per key.
 *
 * `take` decides from memory alone. When the isolate has calls the Durable
 * Object has not heard of, it schedules one sync per key (never more than one
 * scheduled or under way), in `ctx.waitUntil` so the response never waits:
 *  - at once for the first call of a window (to learn what other isolates
 *    already counted),
 *  - at once when the unsent calls reach `syncFraction` of what is left of
 *    the quota, while the key is still under it,
 *  - otherwise `syncIntervalMs` after the previous send.
 * Calls made while a sync is on its way ride on the next one. The answer is
 * the window's total, which later decisions use.
 *
 * docs/rate-limits.md states the overshoot this allows across isolates and
 * what happens when the Durable Object cannot be reached (the isolate keeps
 * enforcing on its own; no request ever fails or waits because of it).
 */
export class WindowRateLimiter implements KeyRateLimiter {
  readonly #table: EntryTable;
  readonly #syncFraction: number;
  readonly #intervalMs: number;
  readonly #retryMs: number;
  readonly #staleMs: number;
  readonly #sync: boolean;
  readonly #clock: () => number;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(options: WindowRateLimiterOptions = {}) {
    this.#table = new EntryTable(options.maxEntries ?? 10_000);
    this.#syncFraction = options.syncFraction ?? 0.1;
    this.#intervalMs = options.syncIntervalMs ?? 1_000;
    this.#retryMs = options.retryAfterFailureMs ?? 5_000;
    this.#staleMs = options.staleSyncMs ?? 10_000;
    this.#sync = options.sync ?? true;
    this.#clock = options.clock ?? Date.now;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** Counters held: bounded by maxEntries, whatever the traffic. */
  get size(): number {
    return this.#table.size;
  }

  /** Whether the isolate holds a counter for the key (which keys the eviction kept). */
  holds(keyId: string): boolean {
    return this.#table.has(keyId);
  }

  take(keyId: string, rawPolicy: RatePolicy, ctx: WaitUntil, env?: RateLimitEnv, now = this.#clock()): RateDecision {
    const { limit, periodSeconds } = normalizePolicy(rawPolicy);
    const periodMs = periodSeconds * 1000;
    const start = windowStartOf(now, periodMs);

    let e = this.#table.touch(keyId);
    if (!e) {
      e = newEntry(periodMs, start, limit);
      this.#table.insert(keyId, e, now);
    } else if (e.periodMs !== periodMs || start > e.windowStart) {
      // Only forward: if the clock steps back, stay in the window already
      // counted rather than start an earlier one from zero.
      resetEntry(e, periodMs, start);
    }
    // A changed limit applies to the calls already counted in this window.
    e.limit = limit;
    const windowEnd = e.windowStart + periodMs;

    if (e.pending && now - e.pendingSince > this.#staleMs) this.#abandonSync(e);

    e.local++;
    e.unsent++;
    const count = estimate(e);
    const allowed = count <= limit;

    const ns = this.#sync ? env?.RATE_LIMITS : undefined;
    if (ns) this.#maybeSync(keyId, e, ns, ctx, now, allowed);

    return {
      allowed,
      limit,
      remaining: Math.max(0, limit - count),
      resetSeconds: secondsUntil(windowEnd, now, periodSeconds),
      periodSeconds,
    };
  }

  /**
   * Unsent calls that trigger a sync: `syncFraction` of what the isolate
   * believes is left of the quota, never more than that fraction of the limit
   * and at least 1. Far from the limit, syncs are rare (what other isolates
   * miss cannot matter yet); close to it, every call is sent, so the
   * isolates' views converge just where the decision is made.
   */
  #threshold(e: Entry): number {
    const left = Math.max(0, e.limit - estimate(e));
    return Math.max(1, Math.ceil(left * this.#syncFraction));
  }

  /**
   * Below the limit, the threshold keeps what other isolates cannot see small.
   * Over it, the isolate refuses the key until the window ends whatever it
   * learns, so further calls are only sent on the interval: a client that
   * ignores its 429s costs at most one sync per interval per isolate.
   */
  #dueNow(e: Entry, now: number, underLimit: boolean): boolean {
    return now - e.lastSendAt >= this.#intervalMs || (underLimit && e.unsent >= this.#threshold(e));
  }

  #maybeSync(
    keyId: string,
    e: Entry,
    ns: NonNullable<RateLimitEnv["RATE_LIMITS"]>,
    ctx: WaitUntil,
    now: number,
    underLimit: boolean,
  ): void {
    const due = this.#dueNow(e, now, underLimit);
    if (e.pending) {
      if (due && e.wake) {
        e.wake();
        e.wake = undefined;
      }
      return;
    }
    if (now < e.retryAt) return;
    e.pending = true;
    e.pendingSince = now;
    const delay = due ? 0 : Math.max(0, e.lastSendAt + this.#intervalMs - now);
    const run = this.#run(keyId, e, ns, delay, e.generation);
    try {
      ctx.waitUntil(run);
    } catch {
      // No execution context to extend (a caller outside a request): the
      // sync still runs as long as the isolate does, and it never rejects.
    }
  }

  /** Sends the entry's unsent calls, and again (up to MAX_ROUNDS) if more arrived during the round trip. */
  async #run(keyId: string, e: Entry, ns: NonNullable<RateLimitEnv["RATE_LIMITS"]>, delay: number, generation: number): Promise<void> {
    try {
      for (let round = 0; round < MAX_ROUNDS; round++) {
        if (delay > 0) await this.#nap(e, delay);
        if (e.generation !== generation) return;
        const batch = e.unsent;
        if (batch === 0) return;
        e.unsent = 0;
        e.inFlight = batch;
        e.lastSendAt = this.#clock();
        let total: number;
        try {
          total = await send(ns, keyId, e, batch);
        } catch (error) {
          if (e.generation !== generation) return;
          // Keep the calls for a later sync: a count is only lost if its
          // window ends first. Retrying at once would hammer an object that
          // is down, so wait a while; meanwhile the isolate enforces alone.
          e.inFlight = 0;
          e.unsent += batch;
          e.retryAt = this.#clock() + this.#retryMs;
          log("warn", "rate_limit_sync_failed", { keyId, error: errorMessage(error) });
          return;
        }
        if (e.generation !== generation) return;
        e.inFlight = 0;
        e.global = Math.max(e.global, total);
        if (e.unsent === 0) return;
        const now = this.#clock();
        delay = this.#dueNow(e, now, estimate(e) <= e.limit) ? 0 : Math.max(0, e.lastSendAt + this.#intervalMs - now);
      }
    } finally {
      if (e.generation === generation) {
        e.pending = false;
        e.wake = undefined;
      }
    }
  }

  /** Waits `ms`, or less if `take` wakes it because the threshold was reached. */
  async #nap(e: Entry, ms: number): Promise<void> {
    let wake: (() => void) | undefined;
    const woken = new Promise<void>((resolve) => (wake = resolve));
    e.wake = wake;
    await Promise.race([this.#sleep(ms), woken]);
    // Only clear our own: after a reset, a newer sync may have set its own.
    if (e.wake === wake) e.wake = undefined;
  }

  /**
   * A sync whose waitUntil was cut short never settles. Rather than keep the
   * key unsynced for the rest of the window, disown it and send its calls
   * again; if it did reach the object they are counted twice, which errs on
   * the strict side.
   */
  #abandonSync(e: Entry): void {
    e.generation++;
    e.unsent += e.inFlight;
    e.inFlight = 0;
    e.pending = false;
    e.wake = undefined;
  }
}

/** One report to the key's counter; resolves to the window's total. */
async function send(ns: NonNullable<RateLimitEnv["RATE_LIMITS"]>, keyId: string, e: Entry, batch: number): Promise<number> {
  const total: unknown = await ns.get(ns.idFromName(keyId)).add(e.periodMs / 1000, e.windowStart, batch);
  if (typeof total !== "number" || !Number.isFinite(total)) throw new TypeError("the counter did not answer with a count");
  return total;
}
