import { and, desc, eq, exists, getTableColumns, isNull, lte, or, type SQL, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { type AuditedBy, auditRow, insertAuditEventIf } from "../audit/events";
import { type Db, database } from "../db/client";
import { after } from "../db/keyset";
import { type WebhookDeliveryRow, type WebhookEndpointRow, webhookDeliveries, webhookEndpoints } from "../db/schema";
import { storage } from "../db/storage";
import type { Env } from "../env";
import { decodeCursor, page } from "../http/cursor";
import { notFound, Problem } from "../http/problem";
import { newId } from "../lib/ids";
import { errorMessage, log } from "../lib/log";
import type { KeyEventType } from "./event-types";
import { pendingDelivery, randomDeliveryId, TEST_EVENT_TYPE, testEventBody } from "./events";
import { newSigningSecret, type SecretKey, sealSecret } from "./secret-box";

/**
 * A workspace's webhook endpoints and their deliveries, as the admin routes
 * (src/routes/webhooks/) read and change them. Every change to an endpoint
 * writes its audit event (`webhook.created|updated|deleted`) in the same D1
 * batch, only if the change happened. The signing secret leaves this module
 * once, in what create answers; nothing else returns it.
 */

/** At most this many endpoints per workspace. */
export const MAX_ENDPOINTS = 10;
/** Attempts of a PATCH when another change lands between its read and its write. */
const MAX_UPDATE_ATTEMPTS = 3;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The endpoint as the API shows it: never its secret. */
export function toEndpoint(row: WebhookEndpointRow) {
  return {
    id: row.id,
    url: row.url,
    events: row.events as KeyEventType[],
    description: row.description,
    createdAt: iso(row.createdAt)!,
    disabledAt: iso(row.disabledAt),
    disabledReason: row.disabledReason,
  };
}

/** A delivery as the API shows it (the body it carries is not repeated). */
export function toDelivery(row: WebhookDeliveryRow) {
  return {
    id: row.id,
    event: row.event as KeyEventType | typeof TEST_EVENT_TYPE,
    createdAt: iso(row.createdAt)!,
    status: row.status,
    attempts: row.attempts,
    lastAttemptAt: iso(row.lastAttemptAt),
    lastResponseStatus: row.lastResponseStatus,
    lastError: row.lastError,
    nextAttemptAt: iso(row.nextAttemptAt),
  };
}

const missing = () => notFound("No webhook endpoint with this id in this workspace.");
const e = webhookEndpoints;
const d = webhookDeliveries;
const byId = (workspaceId: string, id: string) => and(eq(e.id, id), eq(e.workspaceId, workspaceId))!;
/** True inside a batch while an endpoint matches `condition`. */
export const endpointWhere = (db: Db, condition: SQL) => exists(db.select({ one: sql`1` }).from(e).where(condition));
type Statements = [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]];

export interface NewEndpoint {
  url: string;
  events: KeyEventType[];
  description: string | null;
}

/**
 * Creates an endpoint with a new signing secret: the endpoint, plus the
 * secret this once. The insert itself counts the workspace's endpoints (D1
 * runs batches one at a time), so concurrent creates never make an eleventh.
 */
export async function createEndpoint(env: Env, keys: readonly SecretKey[], workspaceId: string, input: NewEndpoint, by: AuditedBy) {
  const db = database(env.DB);
  const now = Date.now();
  const id = newId("wh");
  const secret = newSigningSecret();
  const sealed = await sealSecret(keys, id, secret);
  const [, , rows] = await storage("create_webhook", () =>
    db.batch([
      insertIfRoom(db, {
        id,
        workspaceId,
        url: input.url,
        events: input.events,
        description: input.description,
        secret: sealed,
        createdAt: now,
        updatedAt: now,
        disabledAt: null,
        disabledReason: null,
        failingSince: null,
      }),
      insertAuditEventIf(
        db,
        auditRow("webhook.created", by, workspaceId, id, now, { url: input.url, events: input.events }),
        endpointWhere(db, byId(workspaceId, id)),
      ),
      db.select().from(e).where(byId(workspaceId, id)),
    ]),
  );
  const row = rows[0];
  if (!row) throw new Problem("conflict", `A workspace has at most ${MAX_ENDPOINTS} webhook endpoints; delete one first.`);
  return { ...toEndpoint(row), secret };
}

/**
 * INSERT INTO webhook_endpoints SELECT <the row> WHERE <the workspace has
 * fewer than MAX_ENDPOINTS>: the count and the insert are one statement.
 * Columns in the table's own order, as the insert expects; the events as JSON text.
 */
function insertIfRoom(db: Db, row: WebhookEndpointRow) {
  const values = row as unknown as Record<string, unknown>;
  const selected = Object.keys(getTableColumns(e)).map(
    (field) => sql`${field === "events" ? JSON.stringify(values[field]) : values[field]}`,
  );
  return db
    .insert(e)
    .select(
      sql`select ${sql.join(selected, sql`, `)} where (select count(*) from ${e} where ${e.workspaceId} = ${row.workspaceId}) < ${MAX_ENDPOINTS}`,
    );
}

export async function listEndpoints(env: Env, workspaceId: string, query: { limit: number; cursor?: string | undefined }) {
  const cursor = query.cursor ? decodeCursor(query.cursor) : null;
  const rows = await storage("list_webhooks", () =>
    database(env.DB)
      .select()
      .from(e)
      .where(and(eq(e.workspaceId, workspaceId), cursor ? after(e.createdAt, e.id, cursor) : undefined))
      .orderBy(desc(e.createdAt), desc(e.id))
      .limit(query.limit + 1),
  );
  const result = page(rows, query.limit, (r) => ({ t: r.createdAt, id: r.id }));
  return { data: result.data.map(toEndpoint), nextCursor: result.nextCursor };
}

async function readEndpoint(env: Env, workspaceId: string, id: string): Promise<WebhookEndpointRow> {
  const row = await storage("get_webhook", () => database(env.DB).select().from(e).where(byId(workspaceId, id)).get());
  if (!row) throw missing();
  return row;
}

export async function getEndpoint(env: Env, workspaceId: string, id: string) {
  return toEndpoint(await readEndpoint(env, workspaceId, id));
}

export interface EndpointUpdate {
  url?: string | undefined;
  events?: KeyEventType[] | undefined;
  description?: string | null | undefined;
  enabled?: boolean | undefined;
}

/** The fields PATCH may change, in the order the audit event names them. */
const UPDATABLE = ["url", "events", "description", "enabled"] as const;

/**
 * Changes an endpoint. Only fields whose value really changes are written and
 * named in the audit event; a body that changes nothing writes nothing.
 * `enabled: false` disables it (`admin`) and fails its pending deliveries;
 * `enabled: true` enables a disabled one, whatever disabled it, and starts
 * its failure count afresh. The write is conditional on the endpoint being as
 * read (its updated_at); a concurrent change makes it read again.
 */
export async function updateEndpoint(env: Env, workspaceId: string, id: string, patch: EndpointUpdate, by: AuditedBy) {
  const db = database(env.DB);
  let current = await readEndpoint(env, workspaceId, id);
  for (let attempt = 1; ; attempt++) {
    const now = Math.max(Date.now(), current.updatedAt + 1);
    const changes: Partial<WebhookEndpointRow> = {};
    const fields: (typeof UPDATABLE)[number][] = [];
    if (patch.url !== undefined && patch.url !== current.url) {
      changes.url = patch.url;
      fields.push("url");
    }
    if (patch.events !== undefined && JSON.stringify(patch.events) !== JSON.stringify(current.events)) {
      changes.events = patch.events;
      fields.push("events");
    }
    if (patch.description !== undefined && patch.description !== current.description) {
      changes.description = patch.description;
      fields.push("description");
    }
    const disabling = patch.enabled === false && current.disabledAt === null;
    if (patch.enabled === true && current.disabledAt !== null) {
      Object.assign(changes, { disabledAt: null, disabledReason: null, failingSince: null });
      fields.push("enabled");
    } else if (disabling) {
      Object.assign(changes, { disabledAt: now, disabledReason: "admin" });
      fields.push("enabled");
    }
    if (fields.length === 0) return toEndpoint(current);

    const asRead = and(byId(workspaceId, id), eq(e.updatedAt, current.updatedAt))!;
    const statements: BatchItem<"sqlite">[] = [
      insertAuditEventIf(db, auditRow("webhook.updated", by, workspaceId, id, now, { fields }), endpointWhere(db, asRead)),
      db
        .update(e)
        .set({ ...changes, updatedAt: now })
        .where(asRead),
    ];
    if (disabling) statements.push(failPending(db, id, now, and(eq(e.id, id), eq(e.updatedAt, now))!));
    statements.push(db.select().from(e).where(byId(workspaceId, id)));
    const results = await storage("update_webhook", () => db.batch(statements as Statements));
    const updated = results[1] as D1Result;
    const row = (results.at(-1) as WebhookEndpointRow[])[0];
    if (!row) throw missing();
    if (updated.meta.changes === 1) return toEndpoint(row);
    if (attempt === MAX_UPDATE_ATTEMPTS) {
      throw new Problem("conflict", "The endpoint was changed by another request at the same time; read it again and retry.");
    }
    current = row;
  }
}

/** Fails the endpoint's pending deliveries that no consumer holds right now, while `condition` holds of the endpoint. */
export function failPending(db: Db, endpointId: string, now: number, condition: SQL) {
  return db
    .update(d)
    .set({ status: "failed", nextAttemptAt: null, lastError: "endpoint_disabled" })
    .where(
      and(
        eq(d.endpointId, endpointId),
        eq(d.status, "pending"),
        or(isNull(d.leaseUntil), lte(d.leaseUntil, now)),
        endpointWhere(db, condition),
      ),
    );
}

/** Deletes an endpoint and its deliveries (pending ones are dropped: nothing more is sent). */
export async function deleteEndpoint(env: Env, workspaceId: string, id: string, by: AuditedBy) {
  const db = database(env.DB);
  const now = Date.now();
  const current = await readEndpoint(env, workspaceId, id);
  const [, , deleted] = await storage("delete_webhook", () =>
    db.batch([
      insertAuditEventIf(
        db,
        auditRow("webhook.deleted", by, workspaceId, id, now, { url: current.url }),
        endpointWhere(db, byId(workspaceId, id)),
      ),
      db.delete(d).where(and(eq(d.endpointId, id), endpointWhere(db, byId(workspaceId, id)))),
      db.delete(e).where(byId(workspaceId, id)).returning({ id: e.id }),
    ]),
  );
  if (deleted.length === 0) throw missing();
}

const disabledConflict = (row: WebhookEndpointRow) =>
  new Problem(
    "conflict",
    `This endpoint is disabled (${row.disabledReason ?? "admin"}); enable it (PATCH with enabled: true) before sending to it.`,
  );

/** Wakes the consumer for these deliveries. A failed send is repaired by the cron's sweep, so the call is not failed for it. */
async function wake(env: Env, ids: string[]): Promise<void> {
  try {
    await env.WEBHOOK_DELIVERIES.sendBatch(ids.map((deliveryId) => ({ body: { deliveryId }, contentType: "json" as const })));
  } catch (error) {
    log("error", "webhook_wakeup_failed", { deliveryIds: ids, error: errorMessage(error) });
  }
}

/** Sends a `webhook.test` event to this endpoint only: a new delivery, attempted at once. */
export async function testEndpoint(env: Env, workspaceId: string, id: string) {
  const db = database(env.DB);
  const endpoint = await readEndpoint(env, workspaceId, id);
  if (endpoint.disabledAt !== null) throw disabledConflict(endpoint);
  const now = Date.now();
  const row = pendingDelivery(
    { id: randomDeliveryId(), endpointId: id, workspaceId, event: TEST_EVENT_TYPE, payload: testEventBody(workspaceId, id, now) },
    now,
  );
  await storage("test_webhook", () => db.insert(d).values(row));
  await wake(env, [row.id]);
  return toDelivery(row);
}

const deliveryById = (workspaceId: string, endpointId: string, id: string) =>
  and(eq(d.id, id), eq(d.endpointId, endpointId), eq(d.workspaceId, workspaceId))!;

/**
 * Sends a delivery again now, with the same `webhook-id` and body: it is
 * pending again, with a retry schedule of its own starting now, whatever its
 * status was (a receiver that lost a delivered event can have it again).
 */
export async function retryDelivery(env: Env, workspaceId: string, endpointId: string, id: string) {
  const db = database(env.DB);
  const endpoint = await readEndpoint(env, workspaceId, endpointId);
  if (endpoint.disabledAt !== null) throw disabledConflict(endpoint);
  const now = Date.now();
  const row = await storage("retry_webhook_delivery", () =>
    db
      .update(d)
      .set({ status: "pending", nextAttemptAt: now, scheduleFrom: sql`${d.attempts}` })
      .where(deliveryById(workspaceId, endpointId, id))
      .returning()
      .get(),
  );
  if (!row) throw notFound("No delivery with this id for this endpoint.");
  await wake(env, [row.id]);
  return toDelivery(row);
}

/** An endpoint's deliveries, newest first. */
export async function listDeliveries(
  env: Env,
  workspaceId: string,
  endpointId: string,
  query: { limit: number; cursor?: string | undefined },
) {
  await readEndpoint(env, workspaceId, endpointId);
  const cursor = query.cursor ? decodeCursor(query.cursor) : null;
  const rows = await storage("list_webhook_deliveries", () =>
    database(env.DB)
      .select()
      .from(d)
      .where(and(eq(d.endpointId, endpointId), eq(d.workspaceId, workspaceId), cursor ? after(d.createdAt, d.id, cursor) : undefined))
      .orderBy(desc(d.createdAt), desc(d.id))
      .limit(query.limit + 1),
  );
  const result = page(rows, query.limit, (r) => ({ t: r.createdAt, id: r.id }));
  return { data: result.data.map(toDelivery), nextCursor: result.nextCursor };
}
