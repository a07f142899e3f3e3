import type { Env, UseBatch, UseEntry, WaitUntil } from "../env";
import { errorMessage, log } from "../lib/log";
import { RECORDER_SHARDS, recorderShard } from "./recorder-protocol";
import { type KeyUse, type UnsentUse, type UseReporter, utcDay } from "./use-reporter";

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
 * Sends key uses to one recorder shard, off the request's critical path and
 * coalesced in the isolate: at most one message per coalescing window,
 * whatever the number of requests, keys or workspaces. The first use in a
 * quiet period is sent at once; later ones ride on a send scheduled for the
 * end of the window.
 *
 * Each batch carries an id and the recorder ignores an id it has seen, so a
 * batch resent after a failed call whose effect did land is not counted twice.
 */
export class CoalescingReporter implements UseReporter {
  readonly #coalesceMs: number;
  readonly #shard: number;
  #queue = new Map<string, UseEntry>();
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

  report(env: Env, ctx: WaitUntil, use: KeyUse): void {
    const entry = this.#queue.get(use.keyId);
    const day = this.#dayOf(use.at);
    if (!entry) {
      this.#queue.set(use.keyId, {
        keyId: use.keyId,
        workspaceId: use.workspaceId,
        at: use.at,
        ip: use.ip,
        country: use.country,
        days: { [day]: 1 },
      });
    } else {
      if (use.at >= entry.at) {
        entry.at = use.at;
        entry.ip = use.ip;
        entry.country = use.country;
      }
      entry.days[day] = (entry.days[day] ?? 0) + 1;
    }
    const now = Date.now();
    // A send whose waitUntil was cut short never runs: after two windows it is
    // taken as lost, or this isolate would stop reporting for good.
    if (this.#scheduledAt !== null && now - this.#scheduledAt <= 2 * Math.max(this.#coalesceMs, 1_000)) return;
    this.#scheduledAt = now;
    const delay = Math.max(0, this.#lastSentAt + this.#coalesceMs - now);
    ctx.waitUntil(this.#sendLater(env, delay));
  }

  /**
   * utcDay(ms), remembered for the day it falls in: this runs on every
   * authenticated request, and formatting a date costs more than the rest
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
    const add = (e: UseEntry, counted: boolean) => {
      if (e.workspaceId !== workspaceId || (wanted !== null && !wanted.has(e.keyId))) return;
      const seen = (out[e.keyId] ??= { at: e.at, ip: e.ip, country: e.country, days: {} });
      if (e.at > seen.at) Object.assign(seen, { at: e.at, ip: e.ip, country: e.country });
      if (!counted) return;
      for (const [day, n] of Object.entries(e.days)) seen.days[day] = (seen.days[day] ?? 0) + n;
    };
    // Sent batches give the freshest last use, but their counts may already be
    // in the recorder: counting them here could show a use twice.
    for (const batch of this.#unacknowledged) for (const e of batch.uses) add(e, false);
    for (const e of this.#queue.values()) add(e, true);
    return out;
  }

  async #sendLater(env: Env, delay: number): Promise<void> {
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    this.#scheduledAt = null;
    this.#lastSentAt = Date.now();
    if (this.#queue.size > 0) {
      this.#unacknowledged.push({ id: crypto.randomUUID(), uses: [...this.#queue.values()] });
      this.#queue = new Map();
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
