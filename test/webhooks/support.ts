import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { expect } from "vitest";
import { database } from "../../src/db/client";
import { type ApiKeyRow, keyChanges, keySignals, type WebhookDeliveryRow, webhookDeliveries, webhookEndpoints } from "../../src/db/schema";
import type { Env, WebhookWakeUp } from "../../src/env";
import { call } from "../support/helpers";

/** Webhook test helpers: endpoints through the API, change-log rows and signals straight into D1, a fake queue, a receiver. */

export interface Endpoint {
  id: string;
  url: string;
  events: string[];
  description: string | null;
  createdAt: string;
  disabledAt: string | null;
  disabledReason: string | null;
}

/** Adds an endpoint through the API; answers it with its secret. */
export async function addEndpoint(
  admin: string,
  body: Record<string, unknown> = {},
  overrides: Partial<Env> = {},
): Promise<Endpoint & { secret: string }> {
  const { fetchWith } = await import("../support/bindings");
  const res = await fetchWith(overrides, "POST", "/v1/webhooks", {
    token: admin,
    body: { url: "https://hooks.example.com/owlish", ...body },
  });
  if (res.status !== 201) throw new Error(`add endpoint: ${res.status} ${await res.text()}`);
  return res.json();
}

/** A WEBHOOK_DELIVERIES binding that keeps what is sent instead of delivering it. */
export function fakeQueue() {
  const sent: WebhookWakeUp[] = [];
  const binding = {
    send: async (body: WebhookWakeUp) => {
      sent.push(body);
    },
    sendBatch: async (messages: Iterable<{ body: WebhookWakeUp }>) => {
      for (const m of messages) sent.push(m.body);
    },
  } as unknown as Queue<WebhookWakeUp>;
  return { binding, sent };
}

let seq = 0;
/** A change-log row, as the write path writes it in the change's batch; answers its seq. */
export async function insertChange(
  key: Pick<ApiKeyRow, "id" | "workspaceId">,
  kind: "created" | "updated" | "rolled" | "revoked",
  details: Record<string, unknown> | null = null,
  at = Date.now(),
): Promise<number> {
  const [row] = await database(env.DB)
    .insert(keyChanges)
    .values({
      keyId: key.id,
      workspaceId: key.workspaceId,
      version: ++seq,
      kind,
      at,
      actorId: "usr_admin",
      details,
      kvNextAttemptAt: at,
    })
    .returning({ seq: keyChanges.seq });
  return row!.seq;
}

/** A signal, as the request log or a cron writes it (ON CONFLICT (dedupe) DO NOTHING). */
export async function insertSignal(
  key: Pick<ApiKeyRow, "id" | "workspaceId">,
  kind: "used_after_revoke" | "expiring" | "expired" | "idle",
  dedupe: string,
  data: Record<string, unknown>,
  at = Date.now(),
): Promise<string> {
  const id = `sig_${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`;
  await database(env.DB)
    .insert(keySignals)
    .values({ id, keyId: key.id, workspaceId: key.workspaceId, kind, dedupe, at, data })
    .onConflictDoNothing();
  return id;
}

/** An endpoint's deliveries as D1 holds them, oldest first. */
export async function deliveriesOf(endpointId: string): Promise<WebhookDeliveryRow[]> {
  const rows = await database(env.DB).select().from(webhookDeliveries).all();
  return rows.filter((r) => r.endpointId === endpointId).sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
}

export async function endpointRow(id: string) {
  const rows = await database(env.DB).select().from(webhookEndpoints).all();
  return rows.find((r) => r.id === id);
}

export interface Received {
  url: string;
  init: RequestInit;
  headers: Record<string, string>;
  body: string;
}

/**
 * A receiver standing in for the network (globalThis.fetch is replaced by the
 * test, never reached): records each request and answers with the next of
 * `answers` (the last one repeats), a status or a function.
 */
export function receiver(...answers: (number | ((req: Received) => Promise<Response> | Response))[]) {
  const received: Received[] = [];
  const fetch = async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const headers = Object.fromEntries(new Headers(init.headers));
    const req: Received = { url: String(input), init, headers, body: String(init.body) };
    received.push(req);
    const answer = answers[Math.min(received.length - 1, answers.length - 1)] ?? 200;
    return typeof answer === "number" ? new Response(null, { status: answer }) : answer(req);
  };
  return { fetch: fetch as typeof globalThis.fetch, received };
}

/** Verifies a received delivery with the Standard Webhooks reference library; answers the parsed body. */
export function verified(secret: string, req: Received): Record<string, unknown> {
  return new Webhook(secret).verify(req.body, req.headers) as Record<string, unknown>;
}

/** Every string a payload holds must be free of these (key secrets, webhook secrets). */
export function expectFreeOf(text: string, secrets: string[]) {
  for (const secret of secrets) {
    expect(text).not.toContain(secret);
    // Also not the part after a well-known prefix (whsec_…, sk_live_…), nor its base64 body.
    const body = secret.replace(/^(whsec_|sk_live_)/, "");
    expect(text).not.toContain(body);
  }
}

/** Lists via the API. */
export async function listDeliveries(admin: string, endpointId: string) {
  const res = await call("GET", `/v1/webhooks/${endpointId}/deliveries`, { token: admin });
  expect(res.status).toBe(200);
  return (await res.json<{ data: Record<string, unknown>[] }>()).data;
}
