import type { Env } from "./env";
import { errorMessage, log } from "./lib/log";

/**
 * A job of the cron (wrangler.toml [triggers]): `now` is the trigger's
 * scheduled time. Each stays inside one invocation's limits (1 000 D1
 * queries, 1 000 KV operations, 10 000 subrequests) by working in bounded
 * chunks and leaving the rest to the next run.
 */
export interface Job {
  name: string;
  run(env: Env, ctx: ExecutionContext, now: number): Promise<void>;
}

/** Runs every job at once; one that fails is logged and never stops the others. */
export async function runJobs(jobs: readonly Job[], env: Env, ctx: ExecutionContext, now: number): Promise<void> {
  const results = await Promise.allSettled(jobs.map((job) => job.run(env, ctx, now)));
  results.forEach((result, i) => {
    if (result.status === "rejected") log("error", "job_failed", { job: jobs[i]!.name, error: errorMessage(result.reason) });
  });
}
