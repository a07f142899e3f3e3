import { and, asc, desc, eq, gt, inArray, isNull, lte } from "drizzle-orm";
import { inChunks } from "../db/chunks";
import { database } from "../db/client";
import { type ApiKeyRow, apiKeys, type KeySignalRow, keyPolicies, keySignals } from "../db/schema";
import { storage } from "../db/storage";
import type { Env } from "../env";
import { idleDedupe } from "../policy/idle-timing";
import { toKeyRecord } from "./records";

/**
 * What of a workspace's keys needs someone's attention (the console's keys
 * page shows it as a strip): active keys that expire within 14 days (not
 * those rolled, whose end is planned), revoked keys still being presented
 * (the request log's used_after_revoke signals of the last 7 days), and
 * active keys the idle policy is about to revoke (its idle signals of the last
 * 14 days that still stand: the key unused since, under the rule as it is now
 * set; a key used since, or a rule changed or turned off, no longer is). At
 * most LIMIT of each, the most pressing first.
 */

const DAY_MS = 86_400_000;
export const EXPIRING_WITHIN_MS = 14 * DAY_MS;
const PRESENTED_WITHIN_MS = 7 * DAY_MS;
const IDLE_WITHIN_MS = 14 * DAY_MS;
const LIMIT = 50;
/** Signals read per kind: enough for LIMIT keys when a few keys have several. */
const SIGNALS_READ = 500;

const iso = (ms: number) => new Date(ms).toISOString();
const isoOf = (value: unknown): string | null =>
  typeof value === "number" ? iso(value) : typeof value === "string" && !Number.isNaN(Date.parse(value)) ? value : null;

export async function keysNeedingAttention(env: Env, workspaceId: string, now = Date.now()) {
  const db = database(env.DB);
  const [expiring, presented, idle, [policy]] = await storage("key_attention", () =>
    Promise.all([
      db
        .select()
        .from(apiKeys)
        .where(
          and(
            eq(apiKeys.workspaceId, workspaceId),
            isNull(apiKeys.revokedAt),
            isNull(apiKeys.rolledTo),
            gt(apiKeys.expiresAt, now),
            lte(apiKeys.expiresAt, now + EXPIRING_WITHIN_MS),
          ),
        )
        .orderBy(asc(apiKeys.expiresAt))
        .limit(LIMIT),
      latestSignals(env, workspaceId, "used_after_revoke", now - PRESENTED_WITHIN_MS),
      latestSignals(env, workspaceId, "idle", now - IDLE_WITHIN_MS),
      // A query builder, not .get(): it runs when awaited, so a D1 that throws at once rejects this Promise.all like the others.
      db.select({ idleSetAt: keyPolicies.idleSetAt }).from(keyPolicies).where(eq(keyPolicies.workspaceId, workspaceId)).limit(1),
    ]),
  );
  const keys = await keysById(
    env,
    workspaceId,
    [...presented, ...idle].map((s) => s.keyId),
  );
  return {
    expiring: expiring.map(toKeyRecord),
    usedAfterRevoke: presented.flatMap((s) => {
      const key = keys.get(s.keyId);
      if (!key) return [];
      return [
        {
          ...toKeyRecord(key),
          lastPresentedAt: isoOf(s.data.at) ?? iso(s.at),
          lastPresentedIp: str(s.data.ip),
          lastPresentedCountry: str(s.data.country),
        },
      ];
    }),
    idle: idle.flatMap((s) => {
      const key = keys.get(s.keyId);
      if (!key || key.revokedAt !== null || policy?.idleSetAt == null) return [];
      // The warning of the key's current idle spell under the rule's current setting (as the idle job judges it).
      if (s.dedupe !== idleDedupe(key.id, key.lastUsedAt ?? key.createdAt, policy.idleSetAt)) return [];
      return [{ ...toKeyRecord(key), revokeAt: isoOf(s.data.revokeAt) }];
    }),
  };
}

const str = (v: unknown) => (typeof v === "string" ? v : null);

/** The newest signal of `kind` per key since `since`, newest first, at most LIMIT keys. */
async function latestSignals(env: Env, workspaceId: string, kind: KeySignalRow["kind"], since: number) {
  const rows = await database(env.DB)
    .select()
    .from(keySignals)
    .where(and(eq(keySignals.workspaceId, workspaceId), eq(keySignals.kind, kind), gt(keySignals.at, since)))
    .orderBy(desc(keySignals.at))
    .limit(SIGNALS_READ);
  const latest = new Map<string, KeySignalRow>();
  for (const row of rows) if (!latest.has(row.keyId)) latest.set(row.keyId, row);
  return [...latest.values()].slice(0, LIMIT);
}

async function keysById(env: Env, workspaceId: string, ids: string[]): Promise<Map<string, ApiKeyRow>> {
  const unique = [...new Set(ids)];
  const db = database(env.DB);
  const rows = await storage("key_attention", () =>
    Promise.all(
      inChunks(unique).map((chunk) =>
        db
          .select()
          .from(apiKeys)
          .where(and(eq(apiKeys.workspaceId, workspaceId), inArray(apiKeys.id, chunk))),
      ),
    ),
  );
  return new Map(rows.flat().map((r) => [r.id, r]));
}
