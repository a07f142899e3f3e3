import type { RatePolicy } from "../ratelimit/types";
import type { Outcome } from "../usage/outcomes";
import type { KeyCall } from "./guard-rails/call";
import { isStringList, requireAllowedAddress, sameList } from "./guard-rails/ip-allowlist";
import { isRatePolicy, samePolicy, takeRateLimit } from "./guard-rails/rate-limit";

/**
 * THE per-key guard rails: what a key may be restricted by, each declared
 * once. From this table come the key record and the create body (every rail;
 * on create optional, with its default), the PATCH body (the `patchable`
 * ones), what a roll copies to the new key (`rollInherits`), the verified key
 * cached in KV and the memo (and how a KV copy is checked), and requireKey's
 * checks, in table order.
 *
 * Adding a rail: a row here and its check (a file in guard-rails/ if it needs
 * one), its API schemas in guard-rails/schemas.ts (the compiler asks for them),
 * and its column on api_keys under the same name, stored as JSON
 * (src/db/schema.ts plus a migration). Nothing else changes.
 *
 * Next to the rails, the rules of a workspace's KEY POLICY (POLICY_RULES):
 * what a workspace may require of its keys. A rail is checked on every call
 * of a key that has it; a policy rule is checked only where keys are made or
 * changed (the write path, keys/change.ts), never per request.
 *
 * This module is on the start-up path (requireKey at the edge): it must not
 * import schemas (zod) or the query layer (drizzle).
 */
export interface GuardRail<V> {
  /** What a key created without the rail has: the rail is off. */
  default: V;
  /** A roll gives the new key the old key's value. */
  rollInherits: boolean;
  /** PATCH may change it (and its audit event names it when it does). */
  patchable: boolean;
  /**
   * Whether a call the rail refuses is a use of the key. false: the check runs
   * before the rails whose refusal is a use, so a refused call is neither the
   * key's last use nor a count toward its rate limit. true: after, so a
   * refused call still counts. usage/outcomes.ts (isUse) says the same of
   * the rail's `refusal` (test/keys/guard-rails.test.ts holds them together).
   */
  refusalIsAUse: boolean;
  /** The request log's outcome of a call the rail refuses. */
  refusal: Outcome;
  /** Whether the key has the rail on: a key with no rail on pays this test and nothing else. */
  active(value: V): boolean;
  /** Throws the problem that refuses the call. */
  check(value: V, call: KeyCall): void;
  /** A value read back from KV has the rail's shape (else the copy is a miss and D1 answers). */
  isValid(value: unknown): boolean;
  /** Same value: PATCH writes and records only the fields whose value changes. */
  same(a: V, b: V): boolean;
}

/** A row of the table: typed as a GuardRail of its value, its flags kept literal (the body types follow them). */
const rail =
  <V>() =>
  <const R extends GuardRail<V>>(row: R) =>
    row;

export const GUARD_RAILS = {
  /**
   * Normalised CIDRs the key may be used from; [] = anywhere. A call from
   * outside the allowlist is not an authenticated use of the key: it neither
   * shows as the key's last use nor counts toward its rate limit. Otherwise
   * whoever holds a leaked copy of the key, from anywhere, could spend the
   * quota of the integration it belongs to.
   */
  ipAllowlist: rail<string[]>()({
    default: [],
    rollInherits: true,
    patchable: true,
    refusalIsAUse: false,
    refusal: "ip_not_allowed",
    active: (list) => list.length !== 0,
    check: requireAllowedAddress,
    isValid: isStringList,
    same: sameList,
  }),
  /**
   * At most `limit` calls per `periodSeconds`; null = unlimited. Taken after
   * the use is reported and before the scope check, so that refused calls
   * count too: a client retrying a 403 in a loop is held to the key's limit
   * like any other.
   */
  rateLimit: rail<RatePolicy | null>()({
    default: null,
    rollInherits: true,
    patchable: true,
    refusalIsAUse: true,
    refusal: "rate_limited",
    active: (policy) => policy !== null,
    check: (policy, call) => takeRateLimit(policy!, call),
    isValid: (v) => v === null || isRatePolicy(v),
    same: samePolicy,
  }),
};

export type GuardRailField = keyof typeof GUARD_RAILS;
/** Each rail's value, as a key holds it. */
export type GuardRailValues = { [F in GuardRailField]: Parameters<(typeof GUARD_RAILS)[F]["active"]>[0] };

type AnyRail = GuardRail<unknown> & { field: GuardRailField };

/** The rails in table order, each with its field name. */
export const RAILS: readonly AnyRail[] = (Object.keys(GUARD_RAILS) as GuardRailField[]).map((field) => ({
  ...(GUARD_RAILS[field] as GuardRail<unknown>),
  field,
}));
export const GUARD_RAIL_FIELDS: readonly GuardRailField[] = RAILS.map((r) => r.field);

// --- the key policy's rules -------------------------------------------------

export const DAY_MS = 86_400_000;

/** A key as the policy judges it: when it was made, when it stops, where it may be used from. */
export interface PolicedKey {
  createdAt: number;
  expiresAt: number | null;
  ipAllowlist: readonly string[];
}

/**
 * One rule of a workspace's key policy: its setting's default (the rule is
 * off) and range, whether a setting turns it on, and, for a rule that binds
 * the keys a change makes, the key field it constrains, what a new key gets
 * when its request leaves that field out (`fill`), and its check.
 */
export interface PolicyRule<S> {
  /** The setting of a workspace that never set the rule: off. */
  off: S;
  /** The setting's range, for a number of days: [min, max]. */
  range: readonly [number, number] | null;
  active(setting: S): boolean;
  /**
   * The key field the rule constrains when a key is created, rolled or
   * PATCHed; null for a rule that acts on existing keys instead (the idle
   * rule, which the cron enforces: src/policy/idle.ts).
   */
  field: "expiresAt" | "ipAllowlist" | null;
  /** The value a new key (create, roll) gets when its request leaves the field out or null; undefined: none. */
  fill?(setting: S, createdAt: number): number;
  /** Null when the key complies; otherwise the rule and its limit, in words, as a 422's error message says it. */
  check(setting: S, key: PolicedKey): string | null;
}

const policyRule =
  <S>() =>
  <const R extends PolicyRule<S>>(row: R) =>
    row;

const isoDate = (ms: number) => new Date(ms).toISOString();

export const POLICY_RULES = {
  /**
   * A key's whole lifetime, creation to expiry, is at most this many days. A
   * new key without an expiry gets the longest allowed. Judged on the total
   * lifetime, so a key cannot be kept alive past the cap by rolling or
   * editing it: a roll makes a new key, which starts its own lifetime.
   */
  maxLifetimeDays: policyRule<number | null>()({
    off: null,
    range: [1, 366],
    active: (days) => days !== null,
    field: "expiresAt",
    fill: (days, createdAt) => createdAt + days! * DAY_MS,
    check: (days, key) => {
      const latest = key.createdAt + days! * DAY_MS;
      if (key.expiresAt === null)
        return `The workspace's key policy (maxLifetimeDays) allows keys of at most ${days} days; this key never expires.`;
      if (key.expiresAt <= latest) return null;
      return `The workspace's key policy (maxLifetimeDays) allows keys of at most ${days} days: expiresAt must be no later than ${isoDate(latest)}.`;
    },
  }),
  /** Every key must name where it may be used from: a non-empty IP allowlist. */
  requireIpAllowlist: policyRule<boolean>()({
    off: false,
    range: null,
    active: (required) => required,
    field: "ipAllowlist",
    check: (_required, key) =>
      key.ipAllowlist.length > 0
        ? null
        : "The workspace's key policy (requireIpAllowlist) requires an IP allowlist: ipAllowlist must name at least one address or network.",
  }),
  /**
   * An active key unused for this many days (since its last use, or its
   * creation) is revoked by the cron, after an `idle` signal 7 days ahead.
   * It binds no field of a change: a key is never refused for being idle.
   */
  idleRevokeDays: policyRule<number | null>()({
    off: null,
    range: [7, 365],
    active: (days) => days !== null,
    field: null,
    check: () => null,
  }),
};

export type PolicyRuleName = keyof typeof POLICY_RULES;
/** A workspace's key policy: each rule's setting. */
export type KeyPolicy = { [R in PolicyRuleName]: Parameters<(typeof POLICY_RULES)[R]["active"]>[0] };
export const POLICY_RULE_NAMES = Object.keys(POLICY_RULES) as PolicyRuleName[];
/** The policy of a workspace that never set one: every rule off. */
export const DEFAULT_POLICY = Object.fromEntries(POLICY_RULE_NAMES.map((r) => [r, POLICY_RULES[r].off])) as KeyPolicy;

type AnyPolicyRule = PolicyRule<unknown> & { name: PolicyRuleName };
const RULES: readonly AnyPolicyRule[] = POLICY_RULE_NAMES.map((name) => ({ ...(POLICY_RULES[name] as PolicyRule<unknown>), name }));

export type PolicedField = NonNullable<PolicyRule<unknown>["field"]>;
/** Every key field a rule of the policy constrains. */
export const POLICED_FIELDS: readonly PolicedField[] = [...new Set(RULES.flatMap((r) => (r.field === null ? [] : [r.field])))];

/** The key fields the rules that are on in `policy` constrain. */
export const policedFields = (policy: KeyPolicy): PolicedField[] => [
  ...new Set(RULES.flatMap((r) => (r.field !== null && r.active(policy[r.name]) ? [r.field] : []))),
];

/** A rule a key breaks: the field, the rule, and the rule with its limit in words. */
export interface BrokenRule {
  field: PolicedField;
  rule: PolicyRuleName;
  message: string;
}

/**
 * The policy applied to a key a change makes (create, roll: `fields` every
 * constrained field) or changes (PATCH: the constrained fields its body
 * sets): each active rule on one of `fields` first fills the field if the
 * request left it out (null) and the rule has a default, then checks it.
 * Answers the key as filled and the rules it breaks (none: it complies).
 */
export function applyPolicy(
  policy: KeyPolicy,
  key: PolicedKey,
  fields: readonly PolicedField[],
): { key: PolicedKey; broken: BrokenRule[] } {
  let filled = key;
  const broken: BrokenRule[] = [];
  for (const rule of RULES) {
    const setting = policy[rule.name];
    if (rule.field === null || !fields.includes(rule.field) || !rule.active(setting)) continue;
    if (rule.fill && filled[rule.field] === null) filled = { ...filled, [rule.field]: rule.fill(setting, filled.createdAt) };
    const message = rule.check(setting, filled);
    if (message !== null) broken.push({ field: rule.field, rule: rule.name, message });
  }
  return { key: filled, broken };
}
