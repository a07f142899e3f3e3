import { BoundedMap } from "../lib/bounded-map";

/**
 * One key's counter in one isolate, for one window.
 *
 * `local` is what this isolate alone counted. `global` is the window total the
 * Durable Object last reported; it already includes every batch of ours that
 * it acknowledged, and the ones it has not (`unsent` and `inFlight`) are added
 * on top. The estimate of the key's count is therefore
 * max(local, global + unsent + inFlight): never less than what this isolate
 * saw itself (so the isolate alone is exact), and more as soon as the other
 * isolates' calls are known.
 */
export interface Entry {
  periodMs: number;
  windowStart: number;
  limit: number;
  local: number;
  unsent: number;
  inFlight: number;
  global: number;
  /** A sync is scheduled or under way (at most one per key per isolate). */
  pending: boolean;
  pendingSince: number;
  /** Ends a scheduled sync's wait early (the threshold was reached). */
  wake: (() => void) | undefined;
  lastSendAt: number;
  /** No new sync before this time: the last one failed. */
  retryAt: number;
  /** Bumped whenever the entry is reset, so a late sync result for an older state is ignored. */
  generation: number;
}

export function newEntry(periodMs: number, windowStart: number, limit: number): Entry {
  return {
    periodMs,
    windowStart,
    limit,
    local: 0,
    unsent: 0,
    inFlight: 0,
    global: 0,
    pending: false,
    pendingSince: 0,
    wake: undefined,
    lastSendAt: -Infinity,
    retryAt: -Infinity,
    generation: 0,
  };
}

/** Starts the entry over for a new window (or a new period); a sync still running for the old one is disowned. */
export function resetEntry(e: Entry, periodMs: number, windowStart: number): void {
  e.periodMs = periodMs;
  e.windowStart = windowStart;
  e.local = e.unsent = e.inFlight = e.global = 0;
  e.pending = false;
  e.wake = undefined;
  e.lastSendAt = -Infinity;
  e.retryAt = -Infinity;
  e.generation++;
}

export function estimate(e: Entry): number {
  return Math.max(e.local, e.global + e.unsent + e.inFlight);
}

/** How many of the 16 least recently used entries eviction looks at. */
const EVICTION_SAMPLE = 16;

/**
 * The isolate's counters, bounded in number.
 *
 * A plain LRU would let anyone with many rate-limited keys reset a counter:
 * call N other keys once each and the hot key, now least recently used, is
 * dropped with its count. So the victim is chosen among the EVICTION_SAMPLE
 * least recently used entries, and is
 *   1. an entry whose window has ended (it holds nothing any more), else
 *   2. the one that has used the smallest fraction of its limit (ties: the
 *      older one).
 * A key at or over its limit (fraction ≥ 1) therefore outlives any number of
 * entries that are under theirs: flooding the table with keys called once
 * each never evicts it. To push it out, the sampled entries must all have
 * used a larger share of their own limits than it has of its — calls that
 * those keys' own limits refuse and count.
 *
 * And an evicted entry loses less than it seems: its increments are already
 * with the Durable Object or in a sync that still holds a reference to the
 * entry and delivers them; a later call of the key starts a new entry whose
 * first sync learns the window's total again. What is lost is only the
 * isolate's cached view until that sync lands (see docs/rate-limits.md).
 */
export class EntryTable {
  readonly #entries: BoundedMap<string, Entry>;

  constructor(maxEntries: number) {
    this.#entries = new BoundedMap({ maxEntries });
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The key's entry, marked most recently used. */
  touch(keyId: string): Entry | undefined {
    return this.#entries.touch(keyId);
  }

  insert(keyId: string, e: Entry, now: number): void {
    this.#entries.set(keyId, e, 1, (oldestFirst) => victim(oldestFirst, now));
  }

  /** Whether a counter for the key is held. */
  has(keyId: string): boolean {
    return this.#entries.has(keyId);
  }
}

/** Among the EVICTION_SAMPLE least recently used entries: one whose window has ended, else the smallest share of its limit used. */
function victim(oldestFirst: IterableIterator<[string, Entry]>, now: number): string | undefined {
  let chosen: string | undefined;
  let chosenShare = Infinity;
  let seen = 0;
  for (const [keyId, e] of oldestFirst) {
    if (e.windowStart + e.periodMs <= now) return keyId;
    const share = estimate(e) / e.limit;
    if (share < chosenShare) {
      chosen = keyId;
      chosenShare = share;
    }
    if (++seen >= EVICTION_SAMPLE) break;
  }
  return chosen;
}
