import { env } from "cloudflare:workers";
import { database } from "../../src/db/client";
import { type ApiKeyRow, apiKeys } from "../../src/db/schema";
import { hashKey } from "../../src/keys/format/hash";
import { displayPrefix, generateKey } from "../../src/keys/format/key";
import { toVerifiedKey } from "../../src/keys/records";
import { kvKey } from "../../src/keys/verify/kv-copy";
import { newId } from "../../src/lib/ids";

/**
 * `n` active keys of `workspaceId`, written straight to D1 (one batch) and KV,
 * as the create route leaves them. For tests about what happens to many keys
 * after they exist: creating each through the API would cost a request, an
 * audit event and a KV write per key before the test asserts anything, and
 * make the test's duration grow with the machine's load.
 */
export async function seedKeys(
  workspaceId: string,
  n: number,
  fields: Partial<ApiKeyRow> = {},
  { kv = true }: { kv?: boolean } = {},
): Promise<{ id: string; key: string }[]> {
  const now = Date.now();
  const rows: (ApiKeyRow & { key: string })[] = Array.from({ length: n }, (_, i) => {
    const key = generateKey();
    return {
      key,
      id: newId("key"),
      workspaceId,
      name: `seeded ${i}`,
      prefix: displayPrefix(key),
      keyHash: hashKey(key),
      scopes: ["sources:read", "sources:write", "sources:delete"],
      createdAt: now,
      createdBy: "usr_seed",
      lastUsedAt: null,
      expiresAt: null,
      revokedAt: null,
      revokedBy: null,
      revocationReason: null,
      rolledFrom: null,
      rolledTo: null,
      ipAllowlist: [],
      rateLimit: null,
      lastUsedIp: null,
      lastUsedCountry: null,
      usedAfterRevokeAt: null,
      version: 1,
      budgetId: null,
      kvVersion: null,
      ...fields,
    };
  });
  const db = database(env.DB);
  // D1 binds at most 100 parameters per statement: a few rows per insert, all in one batch.
  const inserts = [];
  for (let i = 0; i < rows.length; i += 4) inserts.push(db.insert(apiKeys).values(rows.slice(i, i + 4).map(({ key: _, ...row }) => row)));
  if (inserts.length > 0) await db.batch(inserts as [(typeof inserts)[number], ...typeof inserts]);
  if (kv) await Promise.all(rows.map((row) => env.KEY_CACHE.put(kvKey(row.keyHash), JSON.stringify(toVerifiedKey(row)))));
  return rows.map((row) => ({ id: row.id, key: row.key }));
}
