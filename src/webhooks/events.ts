import { sha256 } from "@noble/hashes/sha2.js";
import type { ApiKeyRow, KeyChangeRow, KeySignalRow, WebhookDeliveryRow } from "../db/schema";
import { toKeyRecord } from "../keys/records";
import { BASE62 } from "../lib/base62";
import { newId } from "../lib/ids";
import type { KeyEventType } from "./event-types";

/** Sent by POST /v1/webhooks/{id}/test to that endpoint only; not subscribed to. */
export const TEST_EVENT_TYPE = "webhook.test";
export type EventType = KeyEventType | typeof TEST_EVENT_TYPE;

/** An event, before it is addressed to endpoints: its type, its workspace, its exact body, and what it came from. */
export interface KeyEvent {
  type: KeyEventType;
  workspaceId: string;
  /** "change:<seq>" or "signal:<id>": with an endpoint id, what makes a delivery's id. */
  source: string;
  body: string;
}

const CHANGE_EVENTS: Record<KeyChangeRow["kind"], KeyEventType> = {
  created: "api_key.created",
  updated: "api_key.updated",
  rolled: "api_key.rolled",
  revoked: "api_key.revoked",
};

const SIGNAL_EVENTS: Record<KeySignalRow["kind"], KeyEventType> = {
  used_after_revoke: "api_key.used_after_revoke",
  expiring: "api_key.expiring",
  expired: "api_key.expired",
  idle: "api_key.idle",
};

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The body of every event: `{type, timestamp, data: {workspaceId, key, …}}`,
 * `key` being the public key record as it is when the event is produced
 * (toKeyRecord: never the key, never its hash). JSON text, made once: every
 * attempt sends and signs exactly these bytes.
 */
function body(type: EventType, at: number, workspaceId: string, data: Record<string, unknown>): string {
  return JSON.stringify({ type, timestamp: iso(at), data: { workspaceId, ...data } });
}

const details = (row: KeyChangeRow): Record<string, unknown> => row.details ?? {};

/** The event of a change-log row (key_changes), with the key's current row. */
export function changeEvent(change: KeyChangeRow, key: ApiKeyRow): KeyEvent {
  const type = CHANGE_EVENTS[change.kind];
  const d = details(change);
  const extra: Record<string, unknown> =
    change.kind === "revoked"
      ? { reason: d.reason ?? null, ...(typeof d.url === "string" ? { url: d.url } : {}) }
      : change.kind === "rolled"
        ? { newKeyId: d.newKeyId ?? null, overlapSeconds: d.overlapSeconds ?? null }
        : change.kind === "updated"
          ? { fields: Array.isArray(d.fields) ? d.fields : [] }
          : {};
  return {
    type,
    workspaceId: change.workspaceId,
    source: `change:${change.seq}`,
    body: body(type, change.at, change.workspaceId, { key: toKeyRecord(key), ...extra }),
  };
}

/** The event of a signal (key_signals), with the key's current row. */
export function signalEvent(signal: KeySignalRow, key: ApiKeyRow): KeyEvent {
  const type = SIGNAL_EVENTS[signal.kind];
  const d = signal.data ?? {};
  const extra: Record<string, unknown> =
    signal.kind === "used_after_revoke"
      ? { ip: d.ip ?? null, country: d.country ?? null, at: typeof d.at === "number" ? iso(d.at) : (d.at ?? iso(signal.at)) }
      : signal.kind === "expiring"
        ? { daysLeft: d.daysLeft ?? null }
        : signal.kind === "idle"
          ? Object.fromEntries(Object.entries(d).filter(([name]) => name !== "key" && name !== "workspaceId"))
          : {};
  return {
    type,
    workspaceId: signal.workspaceId,
    source: `signal:${signal.id}`,
    body: body(type, signal.at, signal.workspaceId, { key: toKeyRecord(key), ...extra }),
  };
}

/** The body of a `webhook.test` event. */
export function testEventBody(workspaceId: string, endpointId: string, at: number): string {
  return body(TEST_EVENT_TYPE, at, workspaceId, { webhookId: endpointId, message: "A test event from owlish keys." });
}

/**
 * The id of the delivery of an event to an endpoint (its `webhook-id`),
 * derived from both: the producer making the same event again makes the same
 * id, and the insert of an id that exists does nothing.
 */
export function deliveryId(source: string, endpointId: string): string {
  const digest = sha256(new TextEncoder().encode(`${source}|${endpointId}`));
  let id = "msg_";
  for (let i = 0; i < 24; i++) id += BASE62[digest[i]! % 62];
  return id;
}

/** A delivery id of its own, for an event that happens once (a test). */
export const randomDeliveryId = () => newId("msg");

/** A delivery not yet attempted, due now. */
export function pendingDelivery(
  fields: Pick<WebhookDeliveryRow, "id" | "endpointId" | "workspaceId" | "event" | "payload">,
  now: number,
): WebhookDeliveryRow {
  return {
    ...fields,
    createdAt: now,
    status: "pending",
    attempts: 0,
    scheduleFrom: 0,
    lastAttemptAt: null,
    lastResponseStatus: null,
    lastError: null,
    nextAttemptAt: now,
    leaseUntil: null,
  };
}
