import type { Scope } from "./scopes";

/**
 * What verification needs to know about a key, and all that is cached in KV
 * and the in-isolate memo. Times are epoch milliseconds; null means never.
 */
export interface VerifiedKey {
  id: string;
  workspaceId: string;
  name: string;
  prefix: string;
  scopes: Scope[];
  expiresAt: number | null;
  revokedAt: number | null;
}
