import type { Env } from "./env";
import { courier } from "./keys/courier";
import { errorMessage, log } from "./lib/log";

/**
 * What the cron (wrangler.toml [triggers]) runs every minute. Each job stands
 * alone: one failing never stops the others, and each keeps inside the
 * limits of one invocation by doing a bounded chunk of its work per run.
 */
export const SCHEDULED_JOBS: { name: string; run(env: Env, now: number): Promise<unknown> }[] = [
  // The safety net of change delivery: the request that made a change tells
  // the courier at once, but if it died first, this does within a minute.
  { name: "kv_delivery", run: (env) => courier(env).deliver() },
  // Webhooks: expiry signals, events of the change log and signals (the safety net of the call each change makes), deliveries' upkeep.
  { name: "webhooks", run: async (env, now) => (await import("./webhooks/job")).webhookJob(env, now) },
  // The key policy's idle rule: warn keys unused long enough, revoke them a week later (src/policy/idle.ts).
  { name: "idle_keys", run: async (env, now) => (await import("./policy/idle")).idleJob(env, now) },
];

export async function runScheduledJobs(env: Env, now: number): Promise<void> {
  // async: a job that throws before its first await (its binding unusable) rejects its own promise, not the map.
  const results = await Promise.allSettled(SCHEDULED_JOBS.map(async (job) => job.run(env, now)));
  results.forEach((result, i) => {
    if (result.status === "rejected")
      log("error", "scheduled_job_failed", { job: SCHEDULED_JOBS[i]!.name, error: errorMessage(result.reason) });
  });
}
