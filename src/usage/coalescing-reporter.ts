import type { Env, LoggedCall, UseBatch, UseEntry, WaitUntil } from "../env";
import { errorMessage, log } from "../lib/log";
import { isUse, noOutcomes, OUTCOME_INDEX, type OutcomeCounts, usesOf } from "./outcomes";
import { RECORDER_SHARDS, recorderShard } from "./recorder-protocol";
import { type KeyRequest, type UnsentUse, type UseReporter, utcDay } from "./use-reporter";

export interface CoalescingReporterOptions {
  /** Milliseconds uses are gathered before one message carries them all; 0 sends each at once. */
  coalesceMs: number;
  /**
   * The recorder shard this isolate sends to. Chosen at random per isolate by
   * default, so that however many isolates serve one busy workspace, their
   * messages spread over every shard.
   */
  shard?: number;
}

const DAY_MS = 86_400_000;

/** Failed batches kept for resending; past this the oldest is dropped (uses lost, never counted twice). */
const MAX_RETRY_BATCHES = 8;

/**
 * Calls of one key kept for the request log per message, served and refused
 * apart: the newest CALLS_PER_KEY of each. A key busy with served calls
 * cannot push its refused ones out, and one busy key cannot fill a message.
 * The others are counted (`dropped`), never logged; the daily counts still
 * count every call.
 */
export const CALLS_PER_KEY = 100;
/** Calls kept for the request log per message, over all keys; past it, calls are counted, not logged. */
export const MAX_CALLS_PER_MESSAGE = 5_000;

/** A key's calls gathered since the last message. */
interface Pending {
  keyId: string;
  workspaceId: string;
  /** Latest use and its caller; null while none of the calls was a use. */
  at: number | null;
  ip: string | null;
  country: string | null;
  /** Calls per UTC day per outcome (uses per day are derived from them). */
  outcomes: Record<string, OutcomeCounts>;
  /** The newest served calls, a ring of at most CALLS_PER_KEY (okNext: the oldest, replaced next). */
  ok: KeyRequest[];
  okNext: number;
  /** The same for refused calls. */
  refused: KeyRequest[];
  refusedNext: number;
  dropped: number;
  /** The latest call refused because the key was revoked. */
  revoked: KeyRequest | null;
}

/**
 * Sends the calls made with keys to one recorder shard, off the request's
 * critical path and coalesced in the isolate: at most one message per
 * coalescing window, whatever the number of requests, keys or workspaces.
 * The first call in a quiet period is sent at once; later ones ride on a send
 * scheduled for the end of the window. A message carries, per key, the latest
 * use, the counts per day and outcome, and the newest calls for the request log.
 *
 * Each batch carries an id and the recorder ignores an id it has seen, so a
 * batch resent after a failed call whose effect did land is not counted twice.
 */
export class CoalescingReporter implements UseReporter {
  readonly #coalesceMs: number;
  readonly #shard: number;
  #queue = new Map<string, Pending>();
  /** Calls held in the queue's rings, over all keys. */
  #logged = 0;
  /** Batches sent or failed, not yet acknowledged. */
  #unacknowledged: UseBatch[] = [];
  #lastSentAt = 0;
  /** When the pending send was scheduled; null when none is. */
  #scheduledAt: number | null = null;
  /** The UTC day last reported (see #dayOf): its first millisecond and its name. */
  #dayStart = Number.POSITIVE_INFINITY;
  #day = "";

  constructor(options: CoalescingReporterOptions) {
    this.#coalesceMs = options.coalesceMs;
    this.#shard = options.shard ?? Math.floor(Math.random() * RECORDER_SHARDS);
  }

  report(env: Env, ctx: WaitUntil, request: KeyRequest): void {
    let entry = this.#queue.get(request.keyId);
    if (!entry) {
      entry = {
        keyId: request.keyId,
        workspaceId: request.workspaceId,
        at: null,
        ip: null,
        country: null,
        outcomes: {},
        ok: [],
        okNext: 0,
        refused: [],
        refusedNext: 0,
        dropped: 0,
        revoked: null,
      };
      this.#queue.set(request.keyId, entry);
    }
    const day = this.#dayOf(request.at);
    const outcome = request.outcome;
    const counts = (entry.outcomes[day] ??= noOutcomes());
    counts[OUTCOME_INDEX[outcome]]!++;
    if (isUse(outcome) && (entry.at === null || request.at >= entry.at)) {
      entry.at = request.at;
      entry.ip = request.ip;
      entry.country = request.country;
    }
    if (outcome === "revoked" && (entry.revoked === null || request.at >= entry.revoked.at)) entry.revoked = request;
    this.#keep(entry, request);

    const now = Date.now();
    // A send whose waitUntil was cut short never runs: after two windows it is
    // taken as lost, or this isolate would stop reporting for good.
    if (this.#scheduledAt !== null && now - this.#scheduledAt <= 2 * Math.max(this.#coalesceMs, 1_000)) return;
    this.#scheduledAt = now;
    const delay = Math.max(0, this.#lastSentAt + this.#coalesceMs - now);
    ctx.waitUntil(this.#sendLater(env, delay));
  }

  /** Keeps the call for the request log: in its key's ring, replacing the oldest when the ring is full. */
  #keep(entry: Pending, request: KeyRequest): void {
    const served = request.outcome === "ok";
    const ring = served ? entry.ok : entry.refused;
    if (ring.length < CALLS_PER_KEY) {
      if (this.#logged >= MAX_CALLS_PER_MESSAGE) {
        entry.dropped++;
        return;
      }
      ring.push(request);
      this.#logged++;
      return;
    }
    entry.dropped++;
    if (served) {
      ring[entry.okNext] = request;
      entry.okNext = (entry.okNext + 1) % CALLS_PER_KEY;
    } else {
      ring[entry.refusedNext] = request;
      entry.refusedNext = (entry.refusedNext + 1) % CALLS_PER_KEY;
    }
  }

  /**
   * utcDay(ms), remembered for the day it falls in: this runs on every
   * call made with a key, and formatting a date costs more than the rest
   * of report() together.
   */
  #dayOf(ms: number): string {
    if (ms < this.#dayStart || ms >= this.#dayStart + DAY_MS) {
      this.#dayStart = ms - (((ms % DAY_MS) + DAY_MS) % DAY_MS);
      this.#day = utcDay(this.#dayStart);
    }
    return this.#day;
  }

  unsent(workspaceId: string, keyIds: readonly string[] | null): Record<string, UnsentUse> {
    const out: Record<string, UnsentUse> = {};
    const wanted = keyIds === null ? null : new Set(keyIds);
    const seen = (keyId: string) => (out[keyId] ??= { at: null, ip: null, country: null, days: {}, outcomes: {}, afterRevokeAt: null });
    const latest = (u: UnsentUse, at: number | null, ip: string | null, country: string | null, revokedAt: number | null) => {
      if (at !== null && (u.at === null || at > u.at)) Object.assign(u, { at, ip, country });
      if (revokedAt !== null && (u.afterRevokeAt === null || revokedAt > u.afterRevokeAt)) u.afterRevokeAt = revokedAt;
    };
    // Sent batches give the freshest last use, but their counts may already be
    // in the recorder: counting them here could show a use twice.
    for (const batch of this.#unacknowledged) {
      for (const e of batch.uses) {
        if (e.workspaceId !== workspaceId || (wanted !== null && !wanted.has(e.keyId))) continue;
        latest(seen(e.keyId), e.at, e.ip, e.country, e.afterRevoke?.[0] ?? null);
      }
    }
    for (const e of this.#queue.values()) {
      if (e.workspaceId !== workspaceId || (wanted !== null && !wanted.has(e.keyId))) continue;
      const u = seen(e.keyId);
      latest(u, e.at, e.ip, e.country, e.revoked?.at ?? null);
      for (const [day, counts] of Object.entries(e.outcomes)) {
        const sum = (u.outcomes[day] ??= noOutcomes());
        for (let i = 0; i < counts.length; i++) sum[i]! += counts[i]!;
        u.days[day] = (u.days[day] ?? 0) + usesOf(counts);
      }
    }
    return out;
  }

  /** The queue as one message's entries. */
  #entries(): UseEntry[] {
    const entries: UseEntry[] = [];
    for (const e of this.#queue.values()) {
      const days: Record<string, number> = {};
      for (const [day, counts] of Object.entries(e.outcomes)) {
        const uses = usesOf(counts);
        if (uses > 0) days[day] = uses;
      }
      const calls: LoggedCall[] = [];
      for (const r of e.ok) calls.push(logged(r));
      for (const r of e.refused) calls.push(logged(r));
      entries.push({
        keyId: e.keyId,
        workspaceId: e.workspaceId,
        at: e.at,
        ip: e.ip,
        country: e.country,
        days,
        outcomes: e.outcomes,
        calls,
        ...(e.dropped > 0 ? { dropped: e.dropped } : {}),
        ...(e.revoked ? { afterRevoke: [e.revoked.at, e.revoked.ip, e.revoked.country] as [number, string | null, string | null] } : {}),
      });
    }
    return entries;
  }

  async #sendLater(env: Env, delay: number): Promise<void> {
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    this.#scheduledAt = null;
    this.#lastSentAt = Date.now();
    if (this.#queue.size > 0) {
      this.#unacknowledged.push({ id: crypto.randomUUID(), uses: this.#entries() });
      this.#queue = new Map();
      this.#logged = 0;
    }
    if (this.#unacknowledged.length > MAX_RETRY_BATCHES) this.#unacknowledged.splice(0, this.#unacknowledged.length - MAX_RETRY_BATCHES);
    const batches = [...this.#unacknowledged];
    if (batches.length === 0) return;
    try {
      await recorderShard(env, this.#shard).record(this.#shard, batches);
      this.#unacknowledged = this.#unacknowledged.filter((b) => !batches.includes(b));
    } catch (error) {
      // Best effort: never fail a request. The batches stay and ride on the next message.
      log("error", "last_used_report_failed", { shard: this.#shard, batches: batches.length, error: errorMessage(error) });
    }
  }
}

/** A call as the request log carries it on the wire. */
const logged = (r: KeyRequest): LoggedCall => [r.at, OUTCOME_INDEX[r.outcome], r.method, r.path, r.status, r.ip, r.country];
