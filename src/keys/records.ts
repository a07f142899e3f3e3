import type { ApiKeyRow } from "../db/schema";
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
    ipAllowlist: row.ipAllowlist,
    rateLimit: row.rateLimit,
    lastUsedIp: row.lastUsedIp,
    lastUsedCountry: row.lastUsedCountry,
  };
}

export function toVerifiedKey(row: ApiKeyRow): VerifiedKey {
  return {
    id: row.id,
    workspaceId: row.workspaceId,
    name: row.name,
    prefix: row.prefix,
    scopes: row.scopes as Scope[],
    expiresAt: row.expiresAt,
    revokedAt: row.revokedAt,
    ipAllowlist: row.ipAllowlist,
    rateLimit: row.rateLimit,
  };
}
