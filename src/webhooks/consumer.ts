import { and, eq, isNotNull, isNull, lte, or, sql } from "drizzle-orm";
import { type AuditedBy, auditRow, insertAuditEventIf } from "../audit/events";
import { database } from "../db/client";
import { type WebhookDeliveryRow, type WebhookEndpointRow, webhookDeliveries, webhookEndpoints } from "../db/schema";
import type { Env } from "../env";
import { errorMessage, log } from "../lib/log";
import { readOptions } from "../options";
import { endpointWhere, failPending } from "./endpoints";
import { produceEvents } from "./producer";
import { openSecret } from "./secret-box";
import { type AttemptResult, type SendOptions, sendDelivery } from "./sender";
import { urlRefusal } from "./url";

/**
 * The queue consumer: each message of WEBHOOK_DELIVERIES is a wake-up naming
 * a delivery. The delivery's row is the truth (status, attempts, next
 * attempt); a message only says "look at it now". So a message delivered
 * twice, a wake-up the sweep sent again, or a producer replay changes
 * nothing: an attempt happens only for a pending delivery that is due and
 * not held, and claiming it is one conditional update (a lease), so two
 * copies never send at once.
 *
 * After a failed attempt the message is retried with the next delay of
 * RETRY_DELAYS_SECONDS (message.retry({ delaySeconds })); after the last the
 * delivery is `failed`. The schedule spans more than 24 hours.
 */

/**
 * Seconds from one attempt to the next: 30 s, 2 min, 10 min, 30 min, 1 h, 2 h,
 * 4 h, 8 h, 12 h (a queue delay is at most 12 h). Ten attempts over 27 h 42 min
 * (99 750 s), so a receiver that is down for a day still gets the event.
 */
export const RETRY_DELAYS_SECONDS = [30, 120, 600, 1_800, 3_600, 7_200, 14_400, 28_800, 43_200] as const;
export const MAX_ATTEMPTS = RETRY_DELAYS_SECONDS.length + 1;
/** An endpoint whose every attempt failed for this long is disabled (`failing`). */
export const FAILING_DISABLE_MS = 3 * 86_400_000;
/** How long a claim holds a delivery: past the attempt's 10 s timeout and the writes around it. */
export const LEASE_MS = 60_000;
/** A wake-up this early is as good as on time (the queue's clock and ours differ a little). */
const EARLY_SLACK_MS = 2_000;
/** The longest delay a queue message may be given. */
const MAX_DELAY_SECONDS = 43_200;

export interface ConsumerOptions extends SendOptions {
  now?: () => number;
}

type Claim =
  | { kind: "claimed"; delivery: WebhookDeliveryRow; endpoint: WebhookEndpointRow | undefined }
  | { kind: "done" }
  | { kind: "later"; at: number };

const seconds = (ms: number) => Math.min(MAX_DELAY_SECONDS, Math.max(1, Math.ceil(ms / 1000)));
/** After a storage failure: a minute per attempt of the message so far, at most an hour. */
const errorDelay = (message: Message) => Math.min(3_600, 60 * Math.max(1, message.attempts));

/**
 * The consumer of WEBHOOK_DELIVERIES: the "produce" messages of the batch
 * run the producer once (however many changes sent one), then every
 * delivery's wake-up, at once; so a key change's events are addressed and
 * attempted within about a batch's wait of each other.
 */
export async function consumeDeliveries(batch: MessageBatch<unknown>, env: Env, options: ConsumerOptions = {}): Promise<void> {
  const isProduce = (m: Message<unknown>) => (m.body as { produce?: unknown } | null)?.produce === true;
  const produce = batch.messages.filter(isProduce);
  if (produce.length > 0) {
    try {
      await produceEvents(env, (options.now ?? Date.now)());
      for (const message of produce) message.ack();
    } catch (error) {
      // The cron makes them within a minute anyway; this message tries again sooner.
      log("warn", "webhook_events_deferred", { error: errorMessage(error) });
      for (const message of produce) message.retry({ delaySeconds: errorDelay(message) });
    }
  }
  let keys: Awaited<ReturnType<typeof secretKeys>>;
  try {
    keys = secretKeys(env);
  } catch (error) {
    log("error", "invalid_configuration", { error: errorMessage(error) });
    for (const message of batch.messages) if (!isProduce(message)) message.retry({ delaySeconds: 60 });
    return;
  }
  await Promise.all(batch.messages.filter((m) => !isProduce(m)).map((message) => handle(message, env, keys, options)));
}

function secretKeys(env: Env) {
  const opts = readOptions(env);
  return { secretKeys: opts.webhookSecretKeys, allowLocal: opts.webhookAllowLocalUrls };
}

async function handle(message: Message<unknown>, env: Env, config: ReturnType<typeof secretKeys>, options: ConsumerOptions): Promise<void> {
  const id = (message.body as { deliveryId?: unknown } | null)?.deliveryId;
  if (typeof id !== "string") {
    log("warn", "webhook_wakeup_malformed", { messageId: message.id });
    message.ack();
    return;
  }
  const now = (options.now ?? Date.now)();
  let claim: Claim;
  try {
    claim = await claimDelivery(env, id, now);
  } catch (error) {
    log("error", "webhook_claim_failed", { deliveryId: id, error: errorMessage(error) });
    message.retry({ delaySeconds: errorDelay(message) });
    return;
  }
  if (claim.kind === "done") return message.ack();
  if (claim.kind === "later") return message.retry({ delaySeconds: seconds(claim.at - now) });

  const { delivery, endpoint } = claim;
  const lease = delivery.leaseUntil!;
  try {
    if (!endpoint || endpoint.disabledAt !== null) {
      // Deleted or disabled since the event was made: nothing is sent.
      await unclaim(env, delivery, lease, "endpoint_disabled");
      return message.ack();
    }
    if (!("keys" in config.secretKeys)) {
      log("error", "webhook_secret_keys_unusable", { reason: config.secretKeys.unusable, deliveryId: id });
      await unclaim(env, delivery, lease);
      return message.retry({ delaySeconds: 300 });
    }
    let secret: string;
    try {
      secret = await openSecret(config.secretKeys.keys, endpoint.id, endpoint.secret);
    } catch (error) {
      log("error", "webhook_secret_unreadable", { endpointId: endpoint.id, error: errorMessage(error) });
      await unclaim(env, delivery, lease);
      return message.retry({ delaySeconds: 300 });
    }
    const refused = urlRefusal(endpoint.url, config.allowLocal);
    const result: AttemptResult = refused
      ? { outcome: "failed", status: null, error: null }
      : await sendDelivery(endpoint.url, delivery, secret, now, options);
    const after = await record(env, delivery, endpoint, lease, result, refused ? "url_not_allowed" : null, now);
    log(result.outcome === "delivered" ? "info" : "warn", "webhook_attempt", {
      deliveryId: id,
      endpointId: endpoint.id,
      attempt: delivery.attempts + 1,
      outcome: result.outcome,
      status: result.status,
      ...(after.kind === "retry" ? { retryInSeconds: seconds(after.at - now) } : {}),
    });
    if (after.kind === "retry") return message.retry({ delaySeconds: seconds(after.at - now) });
    return message.ack();
  } catch (error) {
    // The lease runs out by itself; the retried message tries again then.
    log("error", "webhook_attempt_unrecorded", { deliveryId: id, error: errorMessage(error) });
    message.retry({ delaySeconds: errorDelay(message) });
  }
}

/**
 * Claims a delivery for one attempt, if it is pending, due and not held by
 * another consumer; one batch (one round trip): the conditional claim, then
 * the delivery and its endpoint as they are.
 */
async function claimDelivery(env: Env, id: string, now: number): Promise<Claim> {
  const db = database(env.DB);
  const d = webhookDeliveries;
  const [claimed, rows, endpoints] = await db.batch([
    db
      .update(d)
      .set({ leaseUntil: now + LEASE_MS })
      .where(
        and(
          eq(d.id, id),
          eq(d.status, "pending"),
          lte(d.nextAttemptAt, now + EARLY_SLACK_MS),
          or(isNull(d.leaseUntil), lte(d.leaseUntil, now)),
        ),
      )
      .returning(),
    db.select().from(d).where(eq(d.id, id)),
    db.select().from(webhookEndpoints).where(sql`${webhookEndpoints.id} = (select ${d.endpointId} from ${d} where ${d.id} = ${id})`),
  ]);
  const delivery = claimed[0];
  if (delivery) return { kind: "claimed", delivery, endpoint: endpoints[0] };
  const current = rows[0];
  if (current?.status !== "pending") return { kind: "done" };
  // Held by another consumer, or not due yet: look again when that ends.
  const held = current.leaseUntil !== null && current.leaseUntil > now ? current.leaseUntil : 0;
  return { kind: "later", at: Math.max(held, current.nextAttemptAt ?? now) };
}

/**
 * Ends a claim without an attempt: lets go of it (the secret cannot be opened
 * yet; the next wake-up finds it free), or fails the delivery (its endpoint
 * is gone or disabled).
 */
async function unclaim(env: Env, delivery: WebhookDeliveryRow, lease: number, failed?: string): Promise<void> {
  const d = webhookDeliveries;
  await database(env.DB)
    .update(d)
    .set(failed ? { status: "failed", nextAttemptAt: null, leaseUntil: null, lastError: failed } : { leaseUntil: null })
    .where(and(eq(d.id, delivery.id), eq(d.leaseUntil, lease)));
}

/**
 * Records an attempt and what follows from it, in one batch:
 * - the delivery: delivered; or failed (410, or the last attempt of its
 *   schedule); or pending with its next attempt;
 * - the endpoint: a delivery clears its failing streak; a failure starts one
 *   (failing_since) or, when the streak is 3 days old, disables the endpoint
 *   (`failing`); a 410 disables it at once (`gone`);
 * - when the endpoint is now disabled, its pending deliveries fail (those
 *   held by another consumer fail when that consumer wakes them).
 * Answers what the message should do: retry at the next attempt, or be done.
 */
/** The service's delivery of webhooks, as the audit trail names it when it disables an endpoint. */
const WEBHOOK_DELIVERY: AuditedBy = { actorId: "webhook_delivery", clientIp: null, userAgent: null };

async function record(
  env: Env,
  delivery: WebhookDeliveryRow,
  endpoint: WebhookEndpointRow,
  lease: number,
  result: AttemptResult,
  error: string | null,
  now: number,
): Promise<{ kind: "retry"; at: number } | { kind: "done" }> {
  const db = database(env.DB);
  const d = webhookDeliveries;
  const e = webhookEndpoints;
  const attempts = delivery.attempts + 1;
  const inSchedule = attempts - delivery.scheduleFrom;
  const next = result.outcome === "failed" && inSchedule < MAX_ATTEMPTS ? now + RETRY_DELAYS_SECONDS[inSchedule - 1]! * 1000 : null;
  const status = result.outcome === "delivered" ? "delivered" : next === null ? "failed" : "pending";
  const disabled = and(eq(e.id, endpoint.id), isNotNull(e.disabledAt))!;
  // The service disabling an endpoint is a change to it, so it is in the trail like an admin's; only if this attempt did it.
  const reason = result.outcome === "gone" ? "gone" : "failing";
  const disabledNow = and(eq(e.id, endpoint.id), eq(e.disabledAt, now), eq(e.updatedAt, now), eq(e.disabledReason, reason))!;
  const disabledEvent = auditRow("webhook.updated", WEBHOOK_DELIVERY, endpoint.workspaceId, endpoint.id, now, {
    fields: ["enabled"],
    reason,
  });
  const [recorded, , , , , , after] = await db.batch([
    db
      .update(d)
      .set({
        attempts,
        lastAttemptAt: now,
        lastResponseStatus: result.status,
        lastError: result.outcome === "failed" ? (error ?? result.error) : null,
        status,
        nextAttemptAt: next,
        leaseUntil: null,
      })
      .where(and(eq(d.id, delivery.id), eq(d.leaseUntil, lease)))
      .returning({ id: d.id }),
    result.outcome === "delivered"
      ? db.update(e).set({ failingSince: null }).where(eq(e.id, endpoint.id))
      : result.outcome === "gone"
        ? db
            .update(e)
            .set({ disabledAt: now, disabledReason: "gone", updatedAt: now })
            .where(and(eq(e.id, endpoint.id), isNull(e.disabledAt)))
        : db
            .update(e)
            .set({ failingSince: sql`coalesce(${e.failingSince}, ${now})` })
            .where(eq(e.id, endpoint.id)),
    db
      .update(e)
      .set({ disabledAt: now, disabledReason: "failing", updatedAt: now })
      .where(and(eq(e.id, endpoint.id), isNull(e.disabledAt), lte(e.failingSince, now - FAILING_DISABLE_MS))),
    insertAuditEventIf(db, disabledEvent, endpointWhere(db, disabledNow)),
    // This delivery too, if it was left pending: a disabled endpoint gets no further attempt.
    db
      .update(d)
      .set({ status: "failed", nextAttemptAt: null })
      .where(and(eq(d.id, delivery.id), eq(d.status, "pending"), endpointWhere(db, disabled))),
    // Then the endpoint's other pending ones (this one is not pending any more, and keeps its own error).
    failPending(db, endpoint.id, now, disabled),
    db.select({ status: d.status, nextAttemptAt: d.nextAttemptAt }).from(d).where(eq(d.id, delivery.id)),
  ]);
  if (recorded.length === 0) {
    // The lease ran out and another consumer took the delivery over: that one carries it on.
    log("warn", "webhook_lease_lost", { deliveryId: delivery.id });
    return { kind: "done" };
  }
  const final = after[0];
  if (final?.status === "pending" && final.nextAttemptAt !== null) return { kind: "retry", at: final.nextAttemptAt };
  return { kind: "done" };
}

/**
 * The consumer of the dead-letter queue: a wake-up the queue gave up on (the
 * consumer kept failing to record it) marks its delivery failed, unless
 * another consumer holds it right now.
 */
export async function consumeDeadLetters(batch: MessageBatch<unknown>, env: Env, options: { now?: () => number } = {}): Promise<void> {
  const now = (options.now ?? Date.now)();
  const d = webhookDeliveries;
  for (const message of batch.messages) {
    const id = (message.body as { deliveryId?: unknown } | null)?.deliveryId;
    if (typeof id !== "string") {
      // A "produce" message given up on: the cron produces those events within a minute.
      message.ack();
      continue;
    }
    try {
      await database(env.DB)
        .update(d)
        .set({ status: "failed", nextAttemptAt: null, lastError: "dead_lettered" })
        .where(and(eq(d.id, id), eq(d.status, "pending"), or(isNull(d.leaseUntil), lte(d.leaseUntil, now))));
      log("warn", "webhook_dead_lettered", { deliveryId: id });
      message.ack();
    } catch (error) {
      log("error", "webhook_dead_letter_unrecorded", { deliveryId: id, error: errorMessage(error) });
      message.retry({ delaySeconds: 60 });
    }
  }
}
