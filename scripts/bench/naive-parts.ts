import { eq } from "drizzle-orm";
import { database } from "../../src/db/client";
import { apiKeys } from "../../src/db/schema";
import { storage } from "../../src/db/storage";
import type { Env } from "../../src/env";
import { readKeyByHash } from "../../src/keys/verify/d1-lookup";
import type { KeyStore } from "../../src/keys/verify/key-store";
import type { VerifiedKey } from "../../src/keys/verify/verified-key";
import { isUse } from "../../src/usage/outcomes";
import type { KeyRequest, UnsentUse, UseReporter } from "../../src/usage/use-reporter";

/**
 * The parts of a naive worker, the bench's baseline: no memo and no KV (every
 * request reads D1), and last-used written to D1 by every request, awaited.
 * They live here, beside the bench, and never in the deployed bundle.
 */
export class DirectKeyStore implements KeyStore {
  find(env: Env, hash: string): Promise<VerifiedKey | null> {
    return readKeyByHash(env, hash);
  }
  remember(): void {}
  async announce(): Promise<void> {}
}

export class DirectUseWriter implements UseReporter {
  async report(env: Env, _ctx: unknown, use: KeyRequest): Promise<void> {
    if (!isUse(use.outcome)) return;
    await storage("bench_last_used", () =>
      database(env.DB)
        .update(apiKeys)
        .set({ lastUsedAt: use.at, lastUsedIp: use.ip, lastUsedCountry: use.country })
        .where(eq(apiKeys.id, use.keyId))
        .run(),
    );
  }
  unsent(): Record<string, UnsentUse> {
    return {};
  }
}
