import type { RatePolicy } from "../ratelimit/types";
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
   * refused call still counts. The rail's refusal is an outcome of the request
   * log, and usage/outcomes.ts (isUse) says the same of it.
   */
  refusalIsAUse: boolean;
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
