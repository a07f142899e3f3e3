import type { VerifiedKey } from "./verify/verified-key";

/** What `GET /v1/key` tells a key about itself: never the secret. */
export function describeCallingKey(k: VerifiedKey) {
  return {
    id: k.id,
    name: k.name,
    prefix: k.prefix,
    scopes: k.scopes,
    workspaceId: k.workspaceId,
    expiresAt: k.expiresAt === null ? null : new Date(k.expiresAt).toISOString(),
  };
}
