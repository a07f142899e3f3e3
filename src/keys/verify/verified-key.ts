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
} & GuardRailValues;

const isTime = (v: unknown) => v === null || Number.isSafeInteger(v);

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
    RAILS.every((rail) => rail.isValid(k[rail.field]))
  );
}
