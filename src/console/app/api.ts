/**
 * The console's only way to the service: the JSON API, through Hono's typed
 * client. The request and response types come from the server's routes
 * (`AppType`, a type only: no server code is bundled), so a renamed field or
 * route breaks this build instead of the page.
 *
 * Every call carries `Authorization: Bearer <session token>`, as a console on
 * another origin would; the token lives in this module's memory only, never in
 * storage, a cookie or the URL.
 */
import { type ClientResponse, hc, type InferRequestType } from "hono/client";
import type { StatusCode, SuccessStatusCode } from "hono/utils/http-status";
import type { AppType } from "../../app";

/** Same origin. A console served elsewhere would put the API's origin here (and be listed in CORS_ALLOWED_ORIGINS). */
const API_ORIGIN = "";

let token: string | null = null;

/** Sets (or, with null, forgets) the session token every call sends. */
export function setSessionToken(value: string | null): void {
  token = value;
}

const client = hc<AppType>(API_ORIGIN, {
  // Read at each call, so a sign-out takes effect at once.
  // biome-ignore lint/style/useTemplate: test/console/page.test.ts finds this exact expression in the built script.
  headers: () => ({ Authorization: "Bearer " + token, Accept: "application/json" }),
  // No cookie goes out (the session is the bearer token) and no answer is cached.
  init: { cache: "no-store", credentials: "omit" },
});
const keys = client.v1["api-keys"];
const key = keys[":id"];

/** The body a response declares for the statuses in S. */
type BodyOf<R, S extends number> =
  R extends ClientResponse<infer Body, infer Status, infer _Format> ? (Status extends S ? Body : never) : never;
type Responses<F extends (...args: never[]) => Promise<unknown>> = Awaited<ReturnType<F>>;
/** What a call resolves to: the body of its success response. */
type Success<F extends (...args: never[]) => Promise<unknown>> = BodyOf<Responses<F>, SuccessStatusCode>;

export type KeyPage = Success<typeof keys.$get>;
export type KeyRecord = KeyPage["data"][number];
export type KeyStatus = NonNullable<InferRequestType<typeof keys.$get>["query"]["status"]>;
export type CreateKeyInput = InferRequestType<typeof keys.$post>["json"];
export type CreatedKey = Success<typeof keys.$post>;
export type RevokedKey = Success<(typeof key)["revoke"]["$post"]>;
export type UpdateKeyInput = InferRequestType<(typeof key)["$patch"]>["json"];
export type RollKeyInput = NonNullable<InferRequestType<(typeof key)["roll"]["$post"]>["json"]>;
export type RateLimit = NonNullable<KeyRecord["rateLimit"]>;
export type KeyUsage = Success<(typeof key)["usage"]["$get"]>;
export type RequestLogPage = Success<(typeof key)["requests"]["$get"]>;
export type LoggedRequest = RequestLogPage["data"][number];
export type Outcome = LoggedRequest["outcome"];
export type WorkspaceUsage = Success<(typeof client.v1)["key-usage"]["$get"]>;
export type AuditEventPage = Success<(typeof client.v1)["audit-events"]["$get"]>;
const keyPolicy = client.v1["key-policy"];
export type KeyPolicy = Success<typeof keyPolicy.$get>;
export type KeyPolicyInput = InferRequestType<typeof keyPolicy.$put>["json"];
export type KeyPolicyResult = Success<typeof keyPolicy.$put>;
export type PolicyViolation = KeyPolicyResult["violations"][number];
export type AuditEvent = AuditEventPage["data"][number];
export type KeyAttention = Success<(typeof client.v1)["key-attention"]["$get"]>;

const webhooks = client.v1.webhooks;
const webhook = webhooks[":id"];
export type WebhookPage = Success<typeof webhooks.$get>;
export type Webhook = WebhookPage["data"][number];
export type CreateWebhookInput = InferRequestType<typeof webhooks.$post>["json"];
export type CreatedWebhook = Success<typeof webhooks.$post>;
export type UpdateWebhookInput = InferRequestType<(typeof webhook)["$patch"]>["json"];
export type DeliveryPage = Success<(typeof webhook)["deliveries"]["$get"]>;
export type Delivery = DeliveryPage["data"][number];
/** An RFC 9457 problem+json body, as the routes declare their errors. */
export type Problem = BodyOf<Responses<typeof keys.$get>, Exclude<StatusCode, SuccessStatusCode>>;
export type FieldError = NonNullable<Problem["errors"]>[number];

/** A refused or failed call: the problem's code and detail, or `network` when the service could not be reached. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: Problem["code"] | "network" | `http_${number}`,
    message: string,
    readonly errors: FieldError[] = [],
  ) {
    super(message);
  }
}

let unauthorized: (error: ApiError) => void = () => {};

/** What to do when the API says the session is not (or no longer) valid: every 401, before the call's own error handling. */
export function whenUnauthorized(handler: (error: ApiError) => void): void {
  unauthorized = handler;
}

interface AnyResponse {
  ok: boolean;
  status: number;
  text(): Promise<string>;
}

/** Sends a call; resolves to its success body, or rejects with an ApiError. */
async function send<R extends AnyResponse>(call: Promise<R>): Promise<BodyOf<R, SuccessStatusCode>> {
  // The session the call went out with (its headers are read as it starts, before anything else runs).
  const sentWith = token;
  let res: R;
  try {
    res = await call;
  } catch {
    throw new ApiError(0, "network", "Could not reach the service. Check your connection and try again.");
  }
  const text = await res.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  // The route's declared type for this status; the server's schemas made the body.
  if (res.ok) return data as BodyOf<R, SuccessStatusCode>;
  const problem = data as Partial<Problem> | null;
  const error = new ApiError(
    res.status,
    problem?.code || `http_${res.status}`,
    problem?.detail || problem?.title || `The service answered ${res.status}.`,
    problem?.errors,
  );
  // A late 401 for a session already replaced (a bad token, then a good one pasted before
  // all of the bad one's calls came back) must not sign the new session out.
  if (res.status === 401 && sentWith === token) unauthorized(error);
  throw error;
}

export const PAGE_SIZE = 50;

/** One page of the workspace's keys, newest first; `cursor` is the previous page's nextCursor. */
export function listKeys(status: KeyStatus, cursor: string | null): Promise<KeyPage> {
  return send(keys.$get({ query: { status, limit: String(PAGE_SIZE), ...(cursor ? { cursor } : {}) } }));
}

/** Creates a key; the answer holds the full secret, this once. */
export function createKey(input: CreateKeyInput): Promise<CreatedKey> {
  return send(keys.$post({ json: input }));
}

// hc puts path parameters in as given: each call encodes them.
const param = (id: string) => ({ id: encodeURIComponent(id) });

/** One key, with its latest use (the tables' copy may be older). */
export function getKey(id: string): Promise<KeyRecord> {
  return send(key.$get({ param: param(id) }));
}

export function revokeKey(id: string): Promise<RevokedKey> {
  return send(key.revoke.$post({ param: param(id) }));
}

/** Changes a key's name, IP allowlist or rate limit; the answer is the record after the change. */
export function updateKey(id: string, input: UpdateKeyInput): Promise<KeyRecord> {
  return send(key.$patch({ param: param(id), json: input }));
}

/** Replaces a key with a new one; the answer holds the new key's full secret, this once. */
export function rollKey(id: string, input: RollKeyInput): Promise<CreatedKey> {
  return send(key.roll.$post({ param: param(id), json: input }));
}

export const USAGE_DAYS = 30;

/** A key's calls per UTC day over the last USAGE_DAYS days, oldest first. */
export function keyUsage(id: string): Promise<KeyUsage> {
  return send(key.usage.$get({ param: param(id), query: { days: String(USAGE_DAYS) } }));
}

export const LOG_PAGE_SIZE = 20;

/** One page of a key's request log, newest first, of one outcome or (null) all; `cursor` is the previous page's nextCursor. */
export function keyRequests(id: string, outcome: Outcome | null, cursor: string | null): Promise<RequestLogPage> {
  return send(
    key.requests.$get({
      param: param(id),
      query: { limit: String(LOG_PAGE_SIZE), ...(outcome ? { outcome } : {}), ...(cursor ? { cursor } : {}) },
    }),
  );
}

/** Calls per key of the workspace over the last USAGE_DAYS days; keys not listed made none. */
export function workspaceUsage(): Promise<WorkspaceUsage> {
  return send(client.v1["key-usage"].$get({ query: { days: String(USAGE_DAYS) } }));
}

/** The newest audit events of one key. */
export function keyAuditEvents(keyId: string): Promise<AuditEventPage> {
  return send(client.v1["audit-events"].$get({ query: { keyId } }));
}

/** What of the workspace's keys needs attention: expiring soon, revoked but still presented, about to be revoked for idleness. */
export function keyAttention(): Promise<KeyAttention> {
  return send(client.v1["key-attention"].$get());
}

/** The workspace's webhook endpoints (at most 10: one page). */
export function listWebhooks(): Promise<WebhookPage> {
  return send(webhooks.$get({ query: {} }));
}

/** Adds an endpoint; the answer holds its signing secret, this once. */
export function createWebhook(input: CreateWebhookInput): Promise<CreatedWebhook> {
  return send(webhooks.$post({ json: input }));
}

/** Changes an endpoint (its URL, events, description, or enabled); the answer is the endpoint after the change. */
export function updateWebhook(id: string, input: UpdateWebhookInput): Promise<Webhook> {
  return send(webhook.$patch({ param: param(id), json: input }));
}

export function deleteWebhook(id: string): Promise<unknown> {
  return send(webhook.$delete({ param: param(id) }));
}

/** Sends a webhook.test event to the endpoint; the answer is its delivery. */
export function testWebhook(id: string): Promise<Delivery> {
  return send(webhook.test.$post({ param: param(id) }));
}

export const DELIVERIES_PAGE = 20;

/** One page of an endpoint's deliveries, newest first. */
export function listDeliveries(id: string, cursor: string | null): Promise<DeliveryPage> {
  return send(webhook.deliveries.$get({ param: param(id), query: { limit: String(DELIVERIES_PAGE), ...(cursor ? { cursor } : {}) } }));
}

/** Sends a delivery again now; the answer is the delivery, pending again. */
export function retryDelivery(id: string, deliveryId: string): Promise<Delivery> {
  return send(
    webhook.deliveries[":deliveryId"].retry.$post({ param: { id: encodeURIComponent(id), deliveryId: encodeURIComponent(deliveryId) } }),
  );
}

/** The workspace's key policy (every rule off if it never set one). */
export function getKeyPolicy(): Promise<KeyPolicy> {
  return send(keyPolicy.$get());
}

/** Sets the whole policy, or with `dryRun` only says what setting it would do; answers it with the keys that do not comply. */
export function putKeyPolicy(input: KeyPolicyInput, dryRun: boolean): Promise<KeyPolicyResult> {
  return send(keyPolicy.$put({ query: { dryRun: dryRun ? "true" : "false" }, json: input }));
}
