import type { Env } from "../env";
import { errorMessage, log } from "../lib/log";
import { readOptions } from "../options";
import { signalExpiries } from "./expiry";
import { produceEvents } from "./producer";
import { deleteOld, requeueLost, reseal } from "./sweep";

/**
 * The webhooks' cron job, every minute: the expiry signals, then the events
 * of every pending change and signal (the safety net behind the call each key
 * change makes), then the deliveries' upkeep. A step that fails is logged and
 * the next one runs; each is bounded (chunked) and picks up next minute
 * where it stopped.
 */
export async function webhookJob(env: Env, now: number): Promise<void> {
  const steps: [string, () => Promise<unknown>][] = [
    ["expiry_signals", () => signalExpiries(env, now)],
    ["events", () => produceEvents(env, now)],
    ["requeue_lost", () => requeueLost(env, now)],
    ["retention", () => deleteOld(env, now)],
    [
      "reseal",
      async () => {
        const configured = readOptions(env).webhookSecretKeys;
        if ("keys" in configured) await reseal(env, configured.keys);
      },
    ],
  ];
  for (const [step, run] of steps) {
    try {
      await run();
    } catch (error) {
      log("error", "job_step_failed", { job: "webhooks", step, error: errorMessage(error) });
    }
  }
}
