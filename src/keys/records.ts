import type { ApiKeyRow } from "../db/schema";
import { GUARD_RAIL_FIELDS, type GuardRailValues } from "./guard-rails";
import type { Scope } from "./scopes";
import type { VerifiedKey } from "./verify/verified-key";

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The public key record: never the key, never its hash. */
export function toKeyRecord(row: ApiKeyRow) {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    scopes: row.scopes as Scope[],
    createdAt: iso(row.createdAt)!,
    createdBy: row.createdBy,
    lastUsedAt: iso(row.lastUsedAt),
    expiresAt: iso(row.expiresAt),
    revokedAt: iso(row.revokedAt),
    revokedBy: row.revokedBy,
    revocationReason: row.revocationReason,
    rolledFrom: row.rolledFrom,
    rolledTo: row.rolledTo,
    ...guardRails(row),
    lastUsedIp: row.lastUsedIp,
    lastUsedCountry: row.lastUsedCountry,
    usedAfterRevokeAt: iso(row.usedAfterRevokeAt),
  };
}

/** What verification needs of a key: its identity, its state and every guard rail, in this order (that of its KV copy). */
export function toVerifiedKey(row: ApiKeyRow): VerifiedKey {
  return {
    id: row.id,
    workspaceId: row.workspaceId,
    name: row.name,
    prefix: row.prefix,
    scopes: row.scopes as Scope[],
    expiresAt: row.expiresAt,
    revokedAt: row.revokedAt,
    version: row.version,
    budgetId: row.budgetId ?? row.id,
    ...guardRails(row),
  };
}

/** The key's guard rails (keys/guard-rails.ts), in table order. */
function guardRails(row: ApiKeyRow): GuardRailValues {
  const rails: Record<string, unknown> = {};
  for (const field of GUARD_RAIL_FIELDS) rails[field] = row[field];
  return rails as GuardRailValues;
}
