import { and, asc, eq, inArray, isNull } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { inChunks } from "../db/chunks";
import { database } from "../db/client";
import {
  apiKeys,
  keyChanges,
  keySignals,
  type WebhookDeliveryRow,
  type WebhookEndpointRow,
  webhookDeliveries,
  webhookEndpoints,
} from "../db/schema";
import type { Env } from "../env";
import { log } from "../lib/log";
import { changeEvent, deliveryId, type KeyEvent, pendingDelivery, signalEvent } from "./events";

/**
 * Webhook events come from the source of truth, never from the request that
 * made a change: the change log (key_changes) and the signal outbox
 * (key_signals), each row with `events_at` null until its events exist. For
 * each such row, oldest first, one delivery per enabled endpoint of the key's
 * workspace that subscribes to the event, with an id derived from the row and
 * the endpoint (INSERT … ON CONFLICT DO NOTHING); then a wake-up per delivery
 * on the queue; then `events_at`. A run that dies anywhere leaves `events_at`
 * null, and the next run (the cron's, every minute, or the next change's)
 * does it again: nothing is lost and nothing is written twice. Wake-ups may be
 * sent twice; the consumer attempts a delivery once however often it is woken.
 */

/** Change-log rows, and separately signals, taken per round. */
const ROWS_PER_ROUND = 25;
/** Rounds per run: bounds one invocation's D1 queries and queue sends (the next run carries on). */
const MAX_ROUNDS = 8;
/** Rows per multi-row insert: 14 bound values each, under D1's 100 parameters per statement. */
const DELIVERIES_PER_INSERT = 7;
/** Messages per sendBatch (the queue's limit is 100). */
const WAKEUPS_PER_SEND = 100;

/** What db.batch takes: at least one statement (every caller here has one). */
type Statements = [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]];

export interface Produced {
  /** Change-log rows and signals whose events were produced (or that had none to produce). */
  changes: number;
  signals: number;
  /** Deliveries addressed (including ones an earlier, interrupted run had already written). */
  deliveries: number;
}

/** Produces the events of every pending change and signal, up to MAX_ROUNDS rounds. */
export async function produceEvents(env: Env, now: number): Promise<Produced> {
  const total: Produced = { changes: 0, signals: 0, deliveries: 0 };
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const produced = await produceRound(env, now);
    total.changes += produced.changes;
    total.signals += produced.signals;
    total.deliveries += produced.deliveries;
    if (produced.changes < ROWS_PER_ROUND && produced.signals < ROWS_PER_ROUND) break;
  }
  return total;
}

async function produceRound(env: Env, now: number): Promise<Produced> {
  const db = database(env.DB);
  // Two queries, not one batch: a D1 batch answers rows as objects by column
  // name, and a join's two `id` (and `workspace_id`…) columns would collide.
  const [changes, signals] = await Promise.all([
    db
      .select({ change: keyChanges, key: apiKeys })
      .from(keyChanges)
      .leftJoin(apiKeys, eq(apiKeys.id, keyChanges.keyId))
      .where(isNull(keyChanges.eventsAt))
      .orderBy(asc(keyChanges.seq))
      .limit(ROWS_PER_ROUND),
    db
      .select({ signal: keySignals, key: apiKeys })
      .from(keySignals)
      .leftJoin(apiKeys, eq(apiKeys.id, keySignals.keyId))
      .where(isNull(keySignals.eventsAt))
      .orderBy(asc(keySignals.at))
      .limit(ROWS_PER_ROUND),
  ]);
  if (changes.length === 0 && signals.length === 0) return { changes: 0, signals: 0, deliveries: 0 };

  const events: KeyEvent[] = [];
  for (const { change, key } of changes) {
    if (key) events.push(changeEvent(change, key));
    else log("warn", "webhook_event_without_key", { seq: change.seq, keyId: change.keyId });
  }
  for (const { signal, key } of signals) {
    if (key) events.push(signalEvent(signal, key));
    else log("warn", "webhook_event_without_key", { signalId: signal.id, keyId: signal.keyId });
  }

  const deliveries = address(events, await enabledEndpoints(env, [...new Set(events.map((e) => e.workspaceId))]), now);
  if (deliveries.length > 0) {
    await db.batch(
      inChunks(deliveries, DELIVERIES_PER_INSERT).map((rows) =>
        db.insert(webhookDeliveries).values(rows).onConflictDoNothing(),
      ) as unknown as Statements,
    );
    // A wake-up per delivery, also for those an interrupted run wrote: its wake-ups may not have gone out.
    for (const chunk of inChunks(deliveries, WAKEUPS_PER_SEND)) {
      await env.WEBHOOK_DELIVERIES.sendBatch(chunk.map((row) => ({ body: { deliveryId: row.id }, contentType: "json" })));
    }
  }

  const seqs = changes.map((c) => c.change.seq);
  const signalIds = signals.map((s) => s.signal.id);
  await db.batch([
    ...inChunks(seqs).map((chunk) =>
      db
        .update(keyChanges)
        .set({ eventsAt: now })
        .where(and(inArray(keyChanges.seq, chunk), isNull(keyChanges.eventsAt))),
    ),
    ...inChunks(signalIds).map((chunk) =>
      db
        .update(keySignals)
        .set({ eventsAt: now })
        .where(and(inArray(keySignals.id, chunk), isNull(keySignals.eventsAt))),
    ),
  ] as unknown as Statements);
  return { changes: changes.length, signals: signals.length, deliveries: deliveries.length };
}

async function enabledEndpoints(env: Env, workspaceIds: string[]): Promise<WebhookEndpointRow[]> {
  if (workspaceIds.length === 0) return [];
  const db = database(env.DB);
  const e = webhookEndpoints;
  const results = await Promise.all(
    inChunks(workspaceIds).map((ids) =>
      db
        .select()
        .from(e)
        .where(and(inArray(e.workspaceId, ids), isNull(e.disabledAt))),
    ),
  );
  return results.flat();
}

/** One pending delivery per event and subscribed endpoint of its workspace, due now. */
function address(events: KeyEvent[], endpoints: WebhookEndpointRow[], now: number): WebhookDeliveryRow[] {
  const byWorkspace = new Map<string, WebhookEndpointRow[]>();
  for (const endpoint of endpoints) byWorkspace.set(endpoint.workspaceId, [...(byWorkspace.get(endpoint.workspaceId) ?? []), endpoint]);
  return events.flatMap((event) =>
    (byWorkspace.get(event.workspaceId) ?? [])
      .filter((endpoint) => endpoint.events.includes(event.type))
      .map(
        (endpoint): WebhookDeliveryRow =>
          pendingDelivery(
            {
              id: deliveryId(event.source, endpoint.id),
              endpointId: endpoint.id,
              workspaceId: event.workspaceId,
              event: event.type,
              payload: event.body,
            },
            now,
          ),
      ),
  );
}
