import { DurableObject } from "cloudflare:workers";
import type { Env, RateLimitCounterRpc } from "../env";
import { MAX_PERIOD_SECONDS, MIN_PERIOD_SECONDS } from "./types";

/** Largest batch one isolate may report at once; far above any real batch, it only keeps sums exact integers. */
const MAX_BATCH = 1_000_000_000;

/**
 * The global count of one API key's calls, per fixed window, summed over every
 * isolate in every location. One object per key id (idFromName): a key's
 * traffic is one object's traffic, and no two keys ever share a lock.
 *
 * Isolates never ask it for permission (that would put a round trip on every
 * request); they report batches of calls they have already decided, and learn
 * the window's total from the answer.
 *
 * Counts live in the object's SQLite storage, not only in memory: an object
 * is evicted after a few idle seconds, and a key that spent its hour's quota
 * in the first minute must still be over it when a new isolate asks at minute
 * 30. One row per (period, window start); a row is deleted once its window has
 * ended, and when no row is left the object deletes all its storage, so a key
 * that stops being used costs nothing.
 *
 * Internals are `#private`, so RPC exposes `add` and nothing else.
 */
export class RateLimitCounter extends DurableObject<Env> implements RateLimitCounterRpc {
  readonly #sql: SqlStorage;
  #tableReady = false;
  /** The alarm as last read or set (undefined: not read yet); saves a storage read per report. */
  #alarmAt: number | null | undefined = undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
  }

  /**
   * Adds `count` calls to the window of `periodSeconds` starting at
   * `windowStart` (epoch ms, a multiple of the period) and returns the
   * window's new total. `count` 0 only reads.
   */
  async add(periodSeconds: number, windowStart: number, count: number): Promise<number> {
    if (!Number.isInteger(periodSeconds) || periodSeconds < MIN_PERIOD_SECONDS || periodSeconds > MAX_PERIOD_SECONDS) {
      throw new RangeError("periodSeconds must be an integer from 1 to 3600");
    }
    const periodMs = periodSeconds * 1000;
    if (!Number.isSafeInteger(windowStart) || windowStart < 0 || windowStart % periodMs !== 0) {
      throw new RangeError("windowStart must be a multiple of the period in epoch milliseconds");
    }
    if (!Number.isInteger(count) || count < 0 || count > MAX_BATCH) {
      throw new RangeError(`count must be an integer from 0 to ${MAX_BATCH}`);
    }
    this.#ensureTable();
    if (count === 0) {
      const row = this.#sql
        .exec<{ count: number }>(`SELECT count FROM windows WHERE period_s = ? AND start_ms = ?`, periodSeconds, windowStart)
        .toArray()[0];
      return row?.count ?? 0;
    }
    const end = windowStart + periodMs;
    await this.#discardEndedBefore(end);
    return this.#sql
      .exec<{ count: number }>(
        `INSERT INTO windows (period_s, start_ms, end_ms, count) VALUES (?, ?, ?, ?)
         ON CONFLICT (period_s, start_ms) DO UPDATE SET count = count + excluded.count
         RETURNING count`,
        periodSeconds,
        windowStart,
        end,
        count,
      )
      .one().count;
  }

  /** Fires at the end of the latest window: drops ended windows, and the whole storage when none is left. */
  override async alarm(): Promise<void> {
    this.#ensureTable();
    this.#sql.exec(`DELETE FROM windows WHERE end_ms <= ?`, Date.now());
    const latest = this.#sql.exec<{ end: number | null }>(`SELECT max(end_ms) AS end FROM windows`).one().end;
    if (latest !== null) {
      await this.ctx.storage.setAlarm(latest);
      this.#alarmAt = latest;
      return;
    }
    await this.ctx.storage.deleteAll();
    this.#tableReady = false;
    this.#alarmAt = null;
  }

  /**
   * The first report of a new window (the only time the alarm moves) also
   * drops the windows that have ended, so a key in constant use keeps one or
   * two rows, not one per window forever; the alarm is for keys that go quiet.
   */
  async #discardEndedBefore(end: number): Promise<void> {
    if (this.#alarmAt === undefined) this.#alarmAt = await this.ctx.storage.getAlarm();
    if (this.#alarmAt !== null && this.#alarmAt >= end) return;
    this.#sql.exec(`DELETE FROM windows WHERE end_ms <= ?`, Date.now());
    await this.ctx.storage.setAlarm(end);
    this.#alarmAt = end;
  }

  #ensureTable(): void {
    if (this.#tableReady) return;
    this.#sql.exec(
      `CREATE TABLE IF NOT EXISTS windows (
         period_s INTEGER NOT NULL,
         start_ms INTEGER NOT NULL,
         end_ms INTEGER NOT NULL,
         count INTEGER NOT NULL,
         PRIMARY KEY (period_s, start_ms)
       )`,
    );
    this.#tableReady = true;
  }
}
