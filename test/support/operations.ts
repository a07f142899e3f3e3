import { env } from "cloudflare:workers";
import type { z } from "@hono/zod-openapi";
import type { ApiKeyRow } from "../../src/db/schema";
import { exampleOf, type Json, resolveRef } from "../../src/docs/examples";
import type { Env } from "../../src/env";
import { newId } from "../../src/lib/ids";
import type { OPERATIONS } from "../../src/routes";
import type { AuthKind } from "../../src/routes/operation";
import { KEY_EVENT_TYPES } from "../../src/webhooks/event-types";
import { newSigningSecret, parseSecretKeys, sealSecret } from "../../src/webhooks/secret-box";
import { type GithubSigner, githubSigner, publicKeysDocument } from "./github-signing";
import { createSource, freshWs, session } from "./helpers";
import { BASE, isolate, type RequestInit } from "./isolate";
import { seedKeys } from "./seed";

/**
 * What the suites that cover every route (test/suites/: auth matrix, hostile
 * input, faults, OpenAPI) need to call any operation of THE route list
 * (src/routes/index.ts), built from the list and the OpenAPI document alone:
 * no hand-written list of routes. A new operation is covered as soon as it
 * is listed; when it needs something this file cannot make (a path
 * parameter of a new resource, a new auth kind), the suites fail and say
 * what to add here.
 */

export type ListedOperation = (typeof OPERATIONS)[number];

/** How the suites name an operation in their messages. */
export const label = (op: ListedOperation) => `${op.operationId} (${op.method.toUpperCase()} ${op.path})`;

/** The OpenAPI document the app serves (the same for every isolate of a test file). */
let document: Json | undefined;
export async function openApiDocument(): Promise<Json> {
  if (!document) {
    const res = await isolate().call("GET", "/openapi.json");
    if (res.status !== 200) throw new Error(`GET /openapi.json: ${res.status}`);
    document = await res.json<Json>();
  }
  return document;
}

/** The operation's entry in the document. */
export const documented = (doc: Json, op: ListedOperation): Json => doc.paths[op.path][op.method];

/** The operation's documented success status (its one 2xx). */
export function successStatus(doc: Json, op: ListedOperation): number {
  const statuses = Object.keys(documented(doc, op).responses ?? {}).filter((s) => s.startsWith("2"));
  if (statuses.length !== 1) throw new Error(`${label(op)} documents ${statuses.length} success statuses, not one`);
  return Number(statuses[0]);
}

/** The zod schema of a success body, from the route's own config (what the handler's answer must match). */
export function successSchema(op: ListedOperation, status: number): z.ZodType | undefined {
  const responses = op.route.responses as Record<string, { content?: Record<string, { schema?: unknown }> }>;
  const schema = responses[status]?.content?.["application/json"]?.schema;
  return schema && typeof (schema as z.ZodType).safeParse === "function" ? (schema as z.ZodType) : undefined;
}

/**
 * A request for `op` built from the route list and the OpenAPI document alone
 * (no hand-written list): the path with each parameter's documented example,
 * and the documented example body. The ids are examples, so the request
 * reaches validation and the handler, which answer 404 for them; a suite that
 * needs a real resource substitutes its own ids with `params`.
 */
export function exampleRequest(
  doc: Json,
  op: ListedOperation,
  params: Record<string, string> = {},
): { method: string; path: string } & RequestInit {
  const entry = documented(doc, op);
  let path: string = op.path;
  for (const p of (entry.parameters ?? []) as Json[]) {
    if (p.in !== "path") continue;
    const value = params[p.name] ?? String(p.example ?? p.schema?.example ?? exampleOf(doc, p.schema));
    path = path.replace(`{${p.name}}`, encodeURIComponent(value));
  }
  const schema = resolveRef(doc, entry.requestBody?.content?.["application/json"]?.schema);
  const body = schema === undefined ? undefined : exampleOf(doc, schema);
  return { method: op.method.toUpperCase(), path, ...(body === undefined ? {} : { body }) };
}

/** A workspace for one suite case: its admin and member sessions, and keys written straight to storage. */
export interface Workspace {
  ws: string;
  admin: string;
  member: string;
  /** A key with every scope, for setting up resources. */
  key: string;
}

export async function freshWorkspace(label = "ws"): Promise<Workspace> {
  const ws = freshWs(label);
  const [k] = await seedKeys(ws, 1);
  return { ws, admin: await session(ws), member: await session(ws, "member", "usr_member"), key: k!.key };
}

/** A key of `w`'s workspace with `fields` (every scope unless told), written straight to D1 and KV. */
export async function seededKey(w: Workspace, fields: Partial<ApiKeyRow> = {}): Promise<{ id: string; key: string }> {
  const [k] = await seedKeys(w.ws, 1, fields);
  return k!;
}

/**
 * How a suite makes the resource a path parameter names, by the path segment
 * before it (`/v1/<resource>/{id}`, `…/deliveries/{deliveryId}`), given the
 * parameters made before it (a delivery belongs to the endpoint of `{id}`).
 * An operation whose path names a resource missing here fails every suite
 * until its maker is added.
 */
const RESOURCES: Record<string, (w: Workspace, made: Record<string, string>) => Promise<string>> = {
  "api-keys": async (w) => (await seededKey(w)).id,
  sources: async (w) => (await createSource(w.key)).id,
  // Written straight to D1: the API allows 10 endpoints per workspace, and a suite makes more.
  webhooks: async (w) => seededEndpoint(w),
  deliveries: async (w, made) => seededDelivery(w, made.id!),
};

/** The operation's path parameters, each naming a resource of `RESOURCES`. */
export function pathParameters(op: ListedOperation): { name: string; resource: string }[] {
  const segments = op.path.split("/");
  return segments.flatMap((segment, i) => {
    const name = /^\{(\w+)\}$/.exec(segment)?.[1];
    if (!name) return [];
    const resource = segments[i - 1] ?? "";
    if (!RESOURCES[resource])
      throw new Error(`${label(op)}: no way to make the ${resource} its {${name}} names; add it to test/support/operations.ts`);
    return [{ name, resource }];
  });
}

/** Fresh resources of `w` for every path parameter of `op`: a call that changes them changes nothing another call uses. */
export async function freshParams(op: ListedOperation, w: Workspace): Promise<Record<string, string>> {
  const params: Record<string, string> = {};
  for (const p of pathParameters(op)) params[p.name] = await RESOURCES[p.resource]!(w, params);
  return params;
}

/** A webhook endpoint of `w`, enabled, for every event, its secret sealed as the service seals one. */
async function seededEndpoint(w: Workspace): Promise<string> {
  const id = newId("wh");
  const now = Date.now();
  const sealed = await sealSecret(parseSecretKeys(env.WEBHOOK_SECRET_KEYS), id, newSigningSecret());
  await env.DB.prepare(
    "INSERT INTO webhook_endpoints (id, workspace_id, url, events, description, secret, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
  )
    .bind(id, w.ws, "https://hooks.example.com/suite", JSON.stringify(KEY_EVENT_TYPES), null, sealed, now, now)
    .run();
  return id;
}

/** A delivery of a test event to the endpoint `endpointId`, already failed (so a retry has something to do). */
async function seededDelivery(w: Workspace, endpointId: string): Promise<string> {
  const id = newId("msg");
  const now = Date.now();
  await env.DB.prepare(
    `INSERT INTO webhook_deliveries (id, endpoint_id, workspace_id, event, payload, created_at, status, attempts, last_attempt_at, last_response_status)
     VALUES (?, ?, ?, 'webhook.test', ?, ?, 'failed', 1, ?, 500)`,
  )
    .bind(
      id,
      endpointId,
      w.ws,
      JSON.stringify({ type: "webhook.test", timestamp: new Date(now).toISOString(), data: { workspaceId: w.ws } }),
      now,
      now,
    )
    .run();
  return id;
}

/** GitHub's secret scanning signer for this test file, and the env that publishes its key to the service. */
let github: { signer: GithubSigner; env: Partial<Env> } | undefined;
export async function githubSigning() {
  if (!github) {
    const signer = await githubSigner();
    github = { signer, env: { SECRET_SCANNING_PUBLIC_KEYS: publicKeysDocument(signer) } };
  }
  return github;
}

/** The env every suite call runs with: the service as configured for tests, plus GitHub's published key. */
export async function suiteEnv(overrides: Partial<Env> = {}): Promise<Partial<Env>> {
  return { ...(await githubSigning()).env, ...overrides };
}

/**
 * The headers that authenticate a request to an operation as its auth kind
 * says, with `w`'s credentials (`key` overrides the workspace's key, for a
 * call that uses it up). Typed by AuthKind: a new kind does not compile
 * until it is given here.
 */
export const AUTHENTICATE: Record<AuthKind, (w: Workspace, body: string | undefined, key?: string) => Promise<Record<string, string>>> = {
  admin: async (w) => ({ Authorization: `Bearer ${w.admin}` }),
  key: async (w, _body, key = w.key) => ({ Authorization: `Bearer ${key}` }),
  none: async () => ({}),
  github_signature: async (_w, body = "") => (await githubSigning()).signer.sign(body),
};

export interface Prepared {
  op: ListedOperation;
  method: string;
  path: string;
  body: string | undefined;
  headers: Record<string, string>;
}

/**
 * A valid, authenticated call of `op` in `w`: its documented example request,
 * fresh resources for its path (unless `params` are given), and the
 * credential (or signature) its auth kind needs.
 */
export async function prepare(
  doc: Json,
  op: ListedOperation,
  w: Workspace,
  { params, key }: { params?: Record<string, string>; key?: string } = {},
): Promise<Prepared> {
  const { method, path, body } = exampleRequest(doc, op, params ?? (await freshParams(op, w)));
  let raw = body === undefined ? undefined : JSON.stringify(body);
  // A body that carries an API key (a leak report) carries a real one of the workspace, as a real report would.
  if (raw?.includes('"sk_live_')) {
    const real = (await seededKey(w)).key;
    raw = JSON.stringify(body, (_k, v: unknown) => (typeof v === "string" && v.startsWith("sk_live_") ? real : v));
  }
  const headers = { ...(raw === undefined ? {} : { "Content-Type": "application/json" }), ...(await AUTHENTICATE[op.auth](w, raw, key)) };
  return { op, method, path, body: raw, headers };
}

/** `p` as a Request, with `headers` replacing its own (a header set to undefined is left out). */
export function requestOf(p: Prepared, headers: Record<string, string | undefined> = {}): Request {
  const merged = Object.entries({ ...p.headers, ...headers }).filter((e): e is [string, string] => e[1] !== undefined);
  return new Request(`${BASE}${p.path}`, { method: p.method, headers: merged, body: p.body });
}
