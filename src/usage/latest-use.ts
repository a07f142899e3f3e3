import { errorMessage } from "../db/client";
import type { Env } from "../env";
import { log } from "../http/log";
import { unsentUses } from "./report-use";

interface HasLastUse {
  id: string;
  lastUsedAt: string | null;
}

/**
 * Fills in uses the workspace's recorder holds but has not flushed to D1 yet,
 * so the keys list is fresh however long LAST_USED_FLUSH_SECONDS is. That is
 * what lets the flush interval grow at scale without staling the console.
 * Uses this isolate has not sent yet count too. If the recorder cannot
 * answer, D1's values (and this isolate's) are shown: never an error.
 */
export async function withLatestUse<T extends HasLastUse>(env: Env, workspaceId: string, records: T[]): Promise<T[]> {
  if (records.length === 0) return records;
  let latest: Record<string, number>;
  try {
    const stub = env.LAST_USED.get(env.LAST_USED.idFromName(workspaceId));
    latest = await stub.latest(records.map((r) => r.id));
  } catch (error) {
    log("warn", "last_used_read_failed", { workspaceId, error: errorMessage(error) });
    latest = {};
  }
  const local = unsentUses(workspaceId, records.map((r) => r.id));
  return records.map((r) => {
    const pending = Math.max(latest[r.id] ?? 0, local[r.id] ?? 0);
    const stored = r.lastUsedAt === null ? 0 : Date.parse(r.lastUsedAt);
    return pending > stored ? { ...r, lastUsedAt: new Date(pending).toISOString() } : r;
  });
}
