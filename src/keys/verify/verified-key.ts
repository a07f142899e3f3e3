import { type GuardRailValues, RAILS } from "../guard-rails";
import type { Scope } from "../scopes";

/**
 * What verification needs to know about a key, and all that is cached in KV
 * and the in-isolate memo: who it is, whether it still works, and its guard
 * rails (one field per rail of keys/guard-rails.ts). Times are epoch
 * milliseconds; null means never.
 */
export type VerifiedKey = {
  id: string;
  workspaceId: string;
  name: string;
  prefix: string;
  scopes: Scope[];
  expiresAt: number | null;
  revokedAt: number | null;
  /**
   * Bumped by every change to the key. A cache keeps the state with the
   * higher version (see newerState); a KV copy written before versions
   * existed reads as 0, older than any change.
   */
  version: number;
  /** The rate-limit budget the key draws from: its own id, or the first key of its chain of rolls. */
  budgetId: string;
} & GuardRailValues;

const isTime = (v: unknown) => v === null || Number.isSafeInteger(v);

/**
 * Of two states of one key, the one a cache may keep: records only move
 * forward. The higher version wins; a revoked state is never replaced by an
 * active one, whatever the versions say (revocation is final); and an expiry
 * only moves earlier (no change ever extends a key's life). Returns `held`
 * itself when nothing is newer, so a caller can tell.
 */
export function newerState(held: VerifiedKey, incoming: VerifiedKey): VerifiedKey {
  if (incoming.version <= held.version) return held;
  if (held.revokedAt !== null && incoming.revokedAt === null) return held;
  if (held.expiresAt !== null && (incoming.expiresAt === null || incoming.expiresAt > held.expiresAt)) {
    return { ...incoming, expiresAt: held.expiresAt };
  }
  return incoming;
}

/**
 * True when a value read back from KV has the shape of a VerifiedKey. A
 * damaged or foreign entry is treated as a cache miss (D1 answers and
 * rewrites it), never trusted and never a 500.
 */
export function isVerifiedKey(v: unknown): v is VerifiedKey {
  if (typeof v !== "object" || v === null) return false;
  const k = v as Record<string, unknown>;
  return (
    typeof k.id === "string" &&
    typeof k.workspaceId === "string" &&
    typeof k.name === "string" &&
    typeof k.prefix === "string" &&
    Array.isArray(k.scopes) &&
    k.scopes.every((s) => typeof s === "string") &&
    isTime(k.expiresAt) &&
    isTime(k.revokedAt) &&
    (k.version === undefined || Number.isSafeInteger(k.version)) &&
    (k.budgetId === undefined || typeof k.budgetId === "string") &&
    RAILS.every((rail) => rail.isValid(k[rail.field]))
  );
}
