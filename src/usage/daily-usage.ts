import { and, eq, gte } from "drizzle-orm";
import { database } from "../db/client";
import { keyUsageDaily } from "../db/schema";
import { storage } from "../db/storage";
import type { DailyCount, Env } from "../env";
import { errorMessage, log } from "../lib/log";
import { askEveryShard } from "./recorder-protocol";
import { type UseReporter, utcDay } from "./use-reporter";

const DAY_MS = 86_400_000;

/** The UTC days from `days - 1` days ago to today, oldest first. */
export function lastDays(days: number, now = Date.now()): string[] {
  return Array.from({ length: days }, (_, i) => utcDay(now - (days - 1 - i) * DAY_MS));
}

/**
 * Authenticated calls per key per UTC day since `fromDay`, for one key (or all
 * keys) of a workspace: D1's flushed per-shard totals, overtaken by each
 * shard's live total where it is ahead, plus what this isolate has not sent.
 * Per shard the larger of the two is taken, never their sum: both are that
 * shard's running total, so adding them would count a use twice.
 */
export async function dailyUsage(
  env: Env,
  usage: UseReporter,
  workspaceId: string,
  keyId: string | null,
  fromDay: string,
): Promise<Map<string, Map<string, number>>> {
  const stored = await storage("key_usage", () =>
    database(env.DB)
      .select({ keyId: keyUsageDaily.keyId, day: keyUsageDaily.day, shard: keyUsageDaily.shard, requests: keyUsageDaily.requests })
      .from(keyUsageDaily)
      .where(
        and(
          eq(keyUsageDaily.workspaceId, workspaceId),
          keyId === null ? undefined : eq(keyUsageDaily.keyId, keyId),
          gte(keyUsageDaily.day, fromDay),
        ),
      )
      .all(),
  );
  const perShard = new Map<string, number>();
  const cell = (shard: number, c: Pick<DailyCount, "keyId" | "day">) => `${c.keyId}|${c.day}|${shard}`;
  for (const row of stored) perShard.set(cell(row.shard, row), row.requests);
  const live = await askEveryShard(
    env,
    (s) => s.dailyCounts(workspaceId, keyId, fromDay),
    (error) => log("warn", "usage_read_failed", { workspaceId, error: errorMessage(error) }),
  );
  for (const [shard, counts] of live) {
    for (const c of counts) perShard.set(cell(shard, c), Math.max(perShard.get(cell(shard, c)) ?? 0, c.requests));
  }

  const out = new Map<string, Map<string, number>>();
  const add = (k: string, day: string, n: number) => {
    if (day < fromDay) return;
    let days = out.get(k);
    if (!days) out.set(k, (days = new Map()));
    days.set(day, (days.get(day) ?? 0) + n);
  };
  for (const [key, n] of perShard) {
    const [k, day] = key.split("|") as [string, string];
    add(k, day, n);
  }
  for (const [k, unsent] of Object.entries(usage.unsent(workspaceId, keyId === null ? null : [keyId]))) {
    for (const [day, n] of Object.entries(unsent.days)) add(k, day, n);
  }
  return out;
}
