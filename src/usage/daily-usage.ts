import { and, eq, gte } from "drizzle-orm";
import { database } from "../db/client";
import { keyUsageDaily } from "../db/schema";
import { storage } from "../db/storage";
import type { Env } from "../env";
import { errorMessage, log } from "../lib/log";
import { noOutcomes, type OutcomeCounts } from "./outcomes";
import { askEveryShard } from "./recorder-protocol";
import { type UseReporter, utcDay } from "./use-reporter";

const DAY_MS = 86_400_000;

/** The UTC days from `days - 1` days ago to today, oldest first. */
export function lastDays(days: number, now = Date.now()): string[] {
  return Array.from({ length: days }, (_, i) => utcDay(now - (days - 1 - i) * DAY_MS));
}

/** A key's calls on one day: its uses, and every call by outcome (OUTCOMES order). */
export interface DayCounts {
  requests: number;
  outcomes: OutcomeCounts;
}

/**
 * Calls per key per UTC day since `fromDay`, for one key (or all keys) of a
 * workspace: D1's flushed per-shard totals, overtaken by each shard's live
 * totals where they are ahead, plus what this isolate has not sent. Per shard
 * the larger of the two is taken, count by count, never their sum: both are
 * that shard's running totals, so adding them would count a call twice.
 */
export async function dailyUsage(
  env: Env,
  usage: UseReporter,
  workspaceId: string,
  keyId: string | null,
  fromDay: string,
): Promise<Map<string, Map<string, DayCounts>>> {
  const c = keyUsageDaily;
  const stored = await storage("key_usage", () =>
    database(env.DB)
      .select({
        keyId: c.keyId,
        day: c.day,
        shard: c.shard,
        requests: c.requests,
        ok: c.ok,
        insufficientScope: c.insufficientScope,
        ipNotAllowed: c.ipNotAllowed,
        rateLimited: c.rateLimited,
        revoked: c.revoked,
        expired: c.expired,
      })
      .from(c)
      .where(and(eq(c.workspaceId, workspaceId), keyId === null ? undefined : eq(c.keyId, keyId), gte(c.day, fromDay)))
      .all(),
  );
  /** Per key, day and shard: [requests, ...outcomes]. */
  const perShard = new Map<string, number[]>();
  const cell = (shard: number, k: string, day: string) => `${k}|${day}|${shard}`;
  for (const r of stored) {
    perShard.set(cell(r.shard, r.keyId, r.day), [
      r.requests,
      r.ok,
      r.insufficientScope,
      r.ipNotAllowed,
      r.rateLimited,
      r.revoked,
      r.expired,
    ]);
  }
  const live = await askEveryShard(
    env,
    (s) => s.dailyCounts(workspaceId, keyId, fromDay),
    (error) => log("warn", "usage_read_failed", { workspaceId, error: errorMessage(error) }),
  );
  for (const [shard, counts] of live) {
    for (const d of counts) {
      const key = cell(shard, d.keyId, d.day);
      const row = [d.requests, ...d.outcomes];
      const known = perShard.get(key);
      perShard.set(key, known ? known.map((n, i) => Math.max(n, row[i] ?? 0)) : row);
    }
  }

  const out = new Map<string, Map<string, DayCounts>>();
  const add = (k: string, day: string, requests: number, outcomes: readonly number[]) => {
    if (day < fromDay) return;
    let days = out.get(k);
    if (!days) out.set(k, (days = new Map()));
    let counts = days.get(day);
    if (!counts) days.set(day, (counts = { requests: 0, outcomes: noOutcomes() }));
    counts.requests += requests;
    for (let i = 0; i < counts.outcomes.length; i++) counts.outcomes[i]! += outcomes[i] ?? 0;
  };
  for (const [key, [requests = 0, ...outcomes]] of perShard) {
    const [k, day] = key.split("|") as [string, string];
    add(k, day, requests, outcomes);
  }
  for (const [k, unsent] of Object.entries(usage.unsent(workspaceId, keyId === null ? null : [keyId]))) {
    const days = new Set([...Object.keys(unsent.days), ...Object.keys(unsent.outcomes)]);
    for (const day of days) add(k, day, unsent.days[day] ?? 0, unsent.outcomes[day] ?? []);
  }
  return out;
}
