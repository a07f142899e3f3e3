import type { Env } from "../env";
import { errorMessage, log } from "../lib/log";
import { askEveryShard } from "./recorder-protocol";
import type { UseReporter } from "./use-reporter";

interface HasLastUse {
  id: string;
  lastUsedAt: string | null;
  lastUsedIp: string | null;
  lastUsedCountry: string | null;
  usedAfterRevokeAt: string | null;
}

/**
 * Fills in uses the recorders hold but have not flushed to D1 yet, and uses
 * this isolate has not sent yet, so the keys list is fresh however long
 * LAST_USED_FLUSH_SECONDS is; the same for the latest call of a revoked key.
 * That is what lets the flush interval grow at scale without staling the
 * console. A recorder that cannot answer leaves D1's values: never an error.
 */
export async function withLatestUse<T extends HasLastUse>(env: Env, usage: UseReporter, workspaceId: string, records: T[]): Promise<T[]> {
  if (records.length === 0) return records;
  const ids = records.map((r) => r.id);
  const shards = await askEveryShard(
    env,
    (shard) => shard.latest(workspaceId, ids),
    (error) => log("warn", "last_used_read_failed", { workspaceId, error: errorMessage(error) }),
  );
  const local = usage.unsent(workspaceId, ids);
  const time = (iso: string | null) => (iso === null ? 0 : Date.parse(iso));
  return records.map((r) => {
    let latest = { at: time(r.lastUsedAt), ip: r.lastUsedIp, country: r.lastUsedCountry };
    let afterRevoke = time(r.usedAfterRevokeAt);
    for (const candidate of [...shards.map(([, s]) => s[r.id]), local[r.id]]) {
      if (!candidate) continue;
      if (candidate.at !== null && candidate.at > latest.at) latest = { at: candidate.at, ip: candidate.ip, country: candidate.country };
      if (candidate.afterRevokeAt !== null && candidate.afterRevokeAt > afterRevoke) afterRevoke = candidate.afterRevokeAt;
    }
    const usedChanged = latest.at !== time(r.lastUsedAt);
    const revokedChanged = afterRevoke !== time(r.usedAfterRevokeAt);
    if (!usedChanged && !revokedChanged) return r;
    return {
      ...r,
      ...(usedChanged ? { lastUsedAt: new Date(latest.at).toISOString(), lastUsedIp: latest.ip, lastUsedCountry: latest.country } : {}),
      ...(revokedChanged ? { usedAfterRevokeAt: new Date(afterRevoke).toISOString() } : {}),
    };
  });
}
