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
  headers: () => ({ Authorization: "Bearer " + token, Accept: "application/json" }),
  // No cookie goes out (the session is the bearer token) and no answer is cached.
  init: { cache: "no-store", credentials: "omit" },
});
const keys = client.v1["api-keys"];

/** The body a response declares for the statuses in S. */
type BodyOf<R, S extends number> = R extends ClientResponse<infer Body, infer Status, infer _Format> ? (Status extends S ? Body : never) : never;
type Responses<F extends (...args: never[]) => Promise<unknown>> = Awaited<ReturnType<F>>;
/** What a call resolves to: the body of its success response. */
type Success<F extends (...args: never[]) => Promise<unknown>> = BodyOf<Responses<F>, SuccessStatusCode>;

export type KeyPage = Success<typeof keys.$get>;
export type KeyRecord = KeyPage["data"][number];
export type KeyStatus = NonNullable<InferRequestType<typeof keys.$get>["query"]["status"]>;
export type CreateKeyInput = InferRequestType<typeof keys.$post>["json"];
export type CreatedKey = Success<typeof keys.$post>;
export type RevokedKey = Success<(typeof keys)[":id"]["revoke"]["$post"]>;
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
  if (res.status === 401) unauthorized(error);
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

export function revokeKey(id: string): Promise<RevokedKey> {
  // hc puts path parameters in as given: encode them here.
  return send(keys[":id"].revoke.$post({ param: { id: encodeURIComponent(id) } }));
}
