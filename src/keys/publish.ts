import type { ApiKeyRow } from "../db/schema";
import type { Env, WaitUntil } from "../env";
import { errorMessage, log } from "../lib/log";
import { courier } from "./courier";
import { toVerifiedKey } from "./records";
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
  /** The URL of the request that made the change (shared caches are kept under its origin). */
  requestUrl: string;
}

/**
 * After D1 committed a change (and, in the same batch, its change-log row):
 * this isolate's memo learns a changed key at once, so the key fails or
 * changes here the moment the answer is sent; the location's copy of the
 * change feed is read again before the answer, so a new isolate of this
 * location sees the change too; and the courier is told to deliver the
 * change to KV, off the request's path. Every other isolate learns it from
 * the change log within seconds (keys/verify/change-feed.ts), whether KV
 * took it yet or not. Should this isolate die before the courier hears of
 * it, the cron tells the courier within a minute: the change is in the log,
 * so nothing is lost.
 *
 * A new key is not put in the memo: no cache can hold an older state of it,
 * and its first use reads the copy the courier writes.
 */
export async function publish({ env, ctx, keys, requestUrl }: PublishDeps, { changed }: Committed): Promise<void> {
  for (const row of changed) keys.remember(row.keyHash, toVerifiedKey(row));
  if (changed.length > 0) await keys.announce(env, requestUrl);
  ctx.waitUntil(
    courier(env)
      .deliver()
      .catch((error: unknown) => log("warn", "courier_unreachable", { error: errorMessage(error) })),
  );
  // Webhook events of the change, made from its change-log row by the queue's consumer (the cron's job if this send is lost).
  ctx.waitUntil(
    env.WEBHOOK_DELIVERIES.send({ produce: true }).catch((error: unknown) =>
      log("warn", "webhook_events_deferred", { error: errorMessage(error) }),
    ),
  );
}
