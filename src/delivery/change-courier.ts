import { DurableObject } from "cloudflare:workers";
import type { ChangeCourierRpc, Env } from "../env";
import { errorMessage, log } from "../lib/log";

/** Passes one invocation runs at most; more work goes to the next alarm, a new invocation with limits of its own. */
const PASSES_PER_INVOCATION = 2;
/** How long a KV write takes to reach every location (propagation, then the edge cache of a read). */
const KV_SETTLE_MS = 90_000;
/** When KV keeps failing, the courier looks again at most this often whatever else is due. */
const FAILING_RECHECK_MS = 5_000;

/**
 * The change courier: the one writer of KV. It delivers the change log to KV
 * (src/delivery/kv-delivery.ts) one pass at a time, and keeps an alarm set
 * while anything waits, so a change is retried until KV confirms it, however
 * long KV is down and whatever happens to the request that made it.
 *
 * Told by the write path after each commit (keys/publish.ts), and by the cron
 * every minute: if every request that could have told it died, the cron still
 * does. One object for the whole service: passes never overlap, so no older
 * state can overtake a newer one on its way to KV.
 */
export class ChangeCourier extends DurableObject<Env> implements ChangeCourierRpc {
  /** The pass under way, if any; a call during it asks for one more after it. */
  #running: Promise<void> | null = null;
  #again = false;

  /**
   * Delivers what is due now. Resolves once a pass that started after this
   * call has run, or (when this invocation has run its passes) once the
   * alarm that will run one is set.
   */
  async deliver(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = this.#run().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  async refill(keyHashes: string[], damaged: boolean): Promise<void> {
    const hashes = keyHashes.filter((h) => /^[0-9a-f]{64}$/.test(h)).slice(0, 100);
    if (hashes.length === 0) return;
    // Marked as lacking a copy, they are written by the next pass like any key
    // KV never had. A copy that is merely missing is left alone while the
    // key's latest write may still be on its way to the reader's location
    // (KV takes up to a minute to reach every location): a new key read
    // elsewhere at once is not written again and again.
    await this.env.DB.prepare(
      `UPDATE api_keys SET kv_version = NULL
       WHERE key_hash IN (SELECT value FROM json_each(?1))
         AND (?2 OR NOT EXISTS (SELECT 1 FROM key_changes c
                                WHERE c.key_id = api_keys.id AND (c.kv_delivered_at IS NULL OR c.kv_delivered_at > ?3)))`,
    )
      .bind(JSON.stringify(hashes), damaged ? 1 : 0, Date.now() - KV_SETTLE_MS)
      .run();
    await this.deliver();
  }

  override async alarm(): Promise<void> {
    await this.deliver();
  }

  async #run(): Promise<void> {
    let next: number | null = null;
    for (let pass = 0; pass < PASSES_PER_INVOCATION; pass++) {
      this.#again = false;
      const now = Date.now();
      try {
        // Loaded when first needed: the worker's start-up (which exports this class) stays free of the query layer.
        const { deliverToKv } = await import("./kv-delivery");
        const report = await deliverToKv(this.env, now);
        next =
          report.failed > 0
            ? Math.min(report.nextAttemptAt ?? Number.POSITIVE_INFINITY, now + FAILING_RECHECK_MS)
            : report.more
              ? now
              : report.nextAttemptAt;
        if (!report.more && !this.#again) break;
      } catch (error) {
        // D1 unreachable: nothing was acknowledged, so nothing is lost; look again shortly.
        log("error", "kv_delivery_pass_failed", { error: errorMessage(error) });
        next = now + FAILING_RECHECK_MS;
        break;
      }
    }
    if (this.#again) next = Date.now();
    if (next !== null) await this.ctx.storage.setAlarm(next);
  }
}
