import type { ApiKeyRow } from "../db/schema";
import type { Env, WaitUntil } from "../env";
import { errorMessage, log } from "../lib/log";
import { toVerifiedKey } from "./records";
import { readKeyByHash } from "./verify/d1-lookup";
import type { KeyStore } from "./verify/key-store";

/** What a committed change touched: keys whose state changed, and keys it created. */
export interface Committed {
  changed: ApiKeyRow[];
  created: ApiKeyRow[];
}

export interface PublishDeps {
  env: Env;
  ctx: WaitUntil;
  keys: KeyStore;
}

/** Attempts and spacing of the background repair of a KV write that failed. */
const KV_REPAIR_DELAYS_MS = [1_000, 5_000, 30_000];

/**
 * After D1 committed a change: the caches learn it.
 *
 * A changed key: this isolate's memo at once (the key fails or changes here
 * the moment the answer is sent), then KV, awaited. The change is already
 * true (and audited) when KV fails, so the caller is told it happened; KV is
 * repaired in the background, retrying, and until then other locations keep
 * the old state for up to the revocation bound plus the time the repair
 * takes (each failure is logged).
 *
 * A new key: only KV, off the request path, so that its first use anywhere
 * needs no D1 read. Not needed for correctness (a miss falls through to D1,
 * which refills KV) and no cache can hold an older state of it, so it is
 * neither awaited nor repaired, and the memo is left to learn it on first use.
 */
export async function publish({ env, ctx, keys }: PublishDeps, { changed, created }: Committed): Promise<void> {
  for (const row of created) {
    ctx.waitUntil(
      keys
        .publish(env, row.keyHash, toVerifiedKey(row))
        .catch((error) => log("warn", "kv_warm_failed", { keyId: row.id, error: errorMessage(error) })),
    );
  }
  await Promise.all(changed.map((row) => publishChanged(env, ctx, keys, row)));
}

async function publishChanged(env: Env, ctx: WaitUntil, keys: KeyStore, row: ApiKeyRow): Promise<void> {
  const verified = toVerifiedKey(row);
  keys.remember(row.keyHash, verified);
  try {
    await keys.publish(env, row.keyHash, verified);
  } catch (error) {
    log("error", "kv_publish_failed", { keyId: row.id, error: errorMessage(error) });
    ctx.waitUntil(repairKv(env, keys, row.id, row.keyHash));
  }
}

async function repairKv(env: Env, keys: KeyStore, keyId: string, hash: string): Promise<void> {
  for (const delay of KV_REPAIR_DELAYS_MS) {
    await new Promise((resolve) => setTimeout(resolve, delay));
    try {
      // Re-read D1 so the repair writes the latest state, not the one that failed.
      const fresh = await readKeyByHash(env, hash);
      if (fresh) await keys.publish(env, hash, fresh);
      log("info", "kv_publish_repaired", { keyId });
      return;
    } catch (error) {
      log("error", "kv_publish_failed", { keyId, error: errorMessage(error) });
    }
  }
}
