import { and, asc, eq, gt, isNull, or, type SQL, sql } from "drizzle-orm";
import { database } from "../db/client";
import { apiKeys } from "../db/schema";
import { storage } from "../db/storage";
import type { Env } from "../env";
import { DAY_MS, type KeyPolicy, POLICY_RULE_NAMES, POLICY_RULES, type PolicyRuleName } from "../keys/guard-rails";
import { IDLE_WARNING_MS, idleRevokeAt, warnAfterMs } from "./idle-timing";

/**
 * The keys of a workspace that do not comply with a policy today: what PUT
 * /v1/key-policy answers (dry run or not), so an admin sees the blast radius
 * before saving. Such keys keep working: the policy binds the keys that
 * changes make, not the keys already out there, except through the idle rule,
 * which revokes (after a week's warning) the keys listed under it.
 *
 * Only keys that work today are judged: not revoked, not expired. One query
 * per rule that is on, each reading at most VIOLATIONS_PER_RULE + 1 keys:
 * a workspace with more non-compliant keys gets the first ones (oldest first;
 * for the idle rule, longest unused first) and `truncated`.
 */

export const VIOLATIONS_PER_RULE = 500;

export interface Violation {
  keyId: string;
  name: string;
  prefix: string;
  rule: PolicyRuleName;
  message: string;
}

interface Judged {
  id: string;
  name: string;
  prefix: string;
  createdAt: number;
  expiresAt: number | null;
  lastUsedAt: number | null;
  ipAllowlist: string[];
}

/** What the time since a key's last use (or creation) is written as, as the index on it writes it. */
const since = sql<number>`coalesce(${apiKeys.lastUsedAt}, ${apiKeys.createdAt})`;
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const days = (ms: number) => Math.floor(ms / DAY_MS);

/**
 * Per rule: which keys break it (the SQL that finds them, in the order they
 * are listed) and what to say of each. The two rules that bind changes are
 * judged again by their own check of the rule table (keys/guard-rails.ts),
 * the one definition of what complies; the SQL only narrows the read.
 */
const RULE_QUERIES: {
  [R in PolicyRuleName]: (
    setting: NonNullable<KeyPolicy[R]>,
    now: number,
  ) => { where: SQL; order: SQL[]; message(key: Judged): string | null };
} = {
  maxLifetimeDays: (limit) => ({
    where: sql`(${apiKeys.expiresAt} is null or ${apiKeys.expiresAt} - ${apiKeys.createdAt} > ${limit * DAY_MS})`,
    order: [asc(apiKeys.createdAt), asc(apiKeys.id)],
    message: (key) => {
      if (POLICY_RULES.maxLifetimeDays.check(limit, key) === null) return null;
      if (key.expiresAt === null) return `Never expires; the policy allows keys of at most ${limit} days.`;
      return `Lives ${days(key.expiresAt - key.createdAt)} days (created ${day(key.createdAt)}, expires ${day(key.expiresAt)}); the policy allows at most ${limit}.`;
    },
  }),
  requireIpAllowlist: () => ({
    where: sql`json_array_length(${apiKeys.ipAllowlist}) = 0`,
    order: [asc(apiKeys.createdAt), asc(apiKeys.id)],
    message: (key) =>
      POLICY_RULES.requireIpAllowlist.check(true, key) === null ? null : "No IP allowlist: the key can be used from any address.",
  }),
  idleRevokeDays: (limit, now) => ({
    // Unused long enough to be warned now, and not expiring before it could be revoked (then it just expires).
    where: sql`${since} <= ${now - warnAfterMs(limit)}
      and (${apiKeys.expiresAt} is null
           or ${apiKeys.expiresAt} > max(${since} + ${limit * DAY_MS}, ${now + IDLE_WARNING_MS}))`,
    order: [asc(since), asc(apiKeys.id)],
    message: (key) => {
      const unusedSince = key.lastUsedAt ?? key.createdAt;
      const revokeAt = idleRevokeAt(limit, unusedSince, now);
      const what = key.lastUsedAt === null ? `Never used since its creation on ${day(unusedSince)}` : `Unused since ${day(unusedSince)}`;
      return `${what} (${days(now - unusedSince)} days): warned now and revoked as idle from ${day(revokeAt)} unless it is used before.`;
    },
  }),
};

/**
 * The workspace's keys that break `policy` at `now`, rule by rule in table
 * order. For the idle rule: those a pass would warn now (a warning already
 * given for the same setting and the same time unused is not given again).
 */
export async function findViolations(
  env: Env,
  workspaceId: string,
  policy: KeyPolicy,
  now: number,
): Promise<{ violations: Violation[]; truncated: boolean }> {
  const db = database(env.DB);
  const active = POLICY_RULE_NAMES.filter((rule) => (POLICY_RULES[rule].active as (s: unknown) => boolean)(policy[rule]));
  const judged = active.map((rule) => ({
    rule,
    ...(RULE_QUERIES[rule] as (s: unknown, now: number) => Query)(policy[rule], now),
  }));
  const pages = await storage("key_policy_violations", () =>
    Promise.all(
      judged.map(({ where, order }) =>
        db
          .select({
            id: apiKeys.id,
            name: apiKeys.name,
            prefix: apiKeys.prefix,
            createdAt: apiKeys.createdAt,
            expiresAt: apiKeys.expiresAt,
            lastUsedAt: apiKeys.lastUsedAt,
            ipAllowlist: apiKeys.ipAllowlist,
          })
          .from(apiKeys)
          .where(
            and(
              eq(apiKeys.workspaceId, workspaceId),
              isNull(apiKeys.revokedAt),
              or(isNull(apiKeys.expiresAt), gt(apiKeys.expiresAt, now)),
              where,
            ),
          )
          .orderBy(...order)
          .limit(VIOLATIONS_PER_RULE + 1),
      ),
    ),
  );
  let truncated = false;
  const violations: Violation[] = [];
  judged.forEach(({ rule, message }, i) => {
    const keys = pages[i]!;
    if (keys.length > VIOLATIONS_PER_RULE) truncated = true;
    for (const key of keys.slice(0, VIOLATIONS_PER_RULE)) {
      const said = message(key);
      if (said !== null) violations.push({ keyId: key.id, name: key.name, prefix: key.prefix, rule, message: said });
    }
  });
  return { violations, truncated };
}

type Query = ReturnType<(typeof RULE_QUERIES)["requireIpAllowlist"]>;
