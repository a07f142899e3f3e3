import { isolate } from "./isolate";

/** A key record as the key routes return it. */
export interface KeyRecord {
  id: string;
  name: string;
  prefix: string;
  scopes: string[];
  createdAt: string;
  lastUsedAt: string | null;
  lastUsedIp: string | null;
  revokedAt: string | null;
  revokedBy: string | null;
  createdBy: string;
  ipAllowlist: string[];
  rateLimit: { limit: number; periodSeconds: number } | null;
}

export interface GuardedKeyBody {
  name?: string;
  scopes?: string[];
  ipAllowlist?: unknown;
  rateLimit?: unknown;
}

/** POST /v1/api-keys with guard rails, settled (the KV copy is written before the test goes on). */
export async function createGuardedKey(token: string, body: GuardedKeyBody = {}): Promise<KeyRecord & { key: string }> {
  const res = await isolate().settled({}, "POST", "/v1/api-keys", {
    token,
    body: { name: "guarded key", scopes: ["sources:read", "sources:write", "sources:delete"], ...body },
  });
  if (res.status !== 201) throw new Error(`create key: ${res.status} ${await res.text()}`);
  return res.json();
}

/** The headers the rate limiter puts on an answer, by name (null when absent). */
export const rateHeaders = (res: Response) => ({
  policy: res.headers.get("RateLimit-Policy"),
  rate: res.headers.get("RateLimit"),
  retryAfter: res.headers.get("Retry-After"),
});
