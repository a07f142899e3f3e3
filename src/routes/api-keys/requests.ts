import { z } from "@hono/zod-openapi";
import { decodeCursor, page } from "../../http/cursor";
import { cursorQuery, jsonResponse, limitQuery, listSchema } from "../../http/openapi";
import { getKey } from "../../keys/queries";
import { OUTCOMES } from "../../usage/outcomes";
import { listRequests } from "../../usage/request-log";
import { CALLS_KEPT, CALLS_MAX_AGE_MS } from "../../usage/request-log-store";
import { adminOperation } from "../operation";
import { KeyIdParam } from "./schemas";

const RETENTION_DAYS = CALLS_MAX_AGE_MS / 86_400_000;

const OutcomeSchema = z.enum(OUTCOMES).openapi({
  description:
    "What became of the call: `ok` (served: the key passed every check; the route's own answer may still be a 4xx such as 404), " +
    "or refused: `insufficient_scope` (403), `ip_not_allowed` (403), `rate_limited` (429), `revoked` (401), `expired` (401).",
  example: "ok",
});

export const LoggedRequestSchema = z
  .object({
    id: z.string().openapi({ description: "The entry's id (`req_…`).", example: "req_0a00000001f2c3" }),
    at: z.string().openapi({ description: "When the call was made (ISO 8601, UTC).", example: "2026-11-26T10:05:00.000Z" }),
    method: z.string().openapi({ description: "The HTTP method.", example: "GET" }),
    path: z.string().openapi({
      description:
        "The URL's path, without the query string; anything shaped like an API key in it is replaced by `sk_live_…`, and a path longer than 256 characters is cut.",
      example: "/v1/sources/src_xdkalG7H5dOwAmbHvAG6BUfE",
    }),
    status: z.number().int().openapi({ description: "The status of the answer.", example: 200 }),
    outcome: OutcomeSchema,
    ip: z
      .string()
      .nullable()
      .openapi({ description: "The caller's address (CF-Connecting-IP); null when unknown.", example: "203.0.113.7" }),
    country: z
      .string()
      .nullable()
      .openapi({ description: "ISO 3166 country of the caller, as Cloudflare saw it; null when unknown.", example: "DE" }),
  })
  .openapi("LoggedRequest");

export const RequestLogSchema = listSchema(LoggedRequestSchema, "RequestLog");

const RequestLogQuery = z.object({
  limit: limitQuery,
  cursor: cursorQuery,
  outcome: z
    .enum(OUTCOMES)
    .optional()
    .openapi({ description: "Only the calls with this outcome; all of them when omitted.", example: "revoked" }),
});

export const listApiKeyRequests = adminOperation(
  {
    method: "get",
    path: "/v1/api-keys/{id}/requests",
    tags: ["API keys"],
    operationId: "listApiKeyRequests",
    summary: "Request log of an API key",
    description:
      "The calls made with the key, served or refused, newest first: when, method and path, the status answered, the outcome, and the caller's address and country. " +
      `Kept: at least the newest ${CALLS_KEPT.toLocaleString("en-US")} served calls and, apart, the newest ${CALLS_KEPT.toLocaleString("en-US")} refused ones, none older than ${RETENTION_DAYS} days. ` +
      "A call shows here within a few seconds (the usage counts' delay). Pages never skip or repeat an entry while new calls arrive. " +
      "Calls with a key that is not ours are not logged: there is no key to log them under.",
    request: { params: KeyIdParam, query: RequestLogQuery },
    responses: { 200: jsonResponse(RequestLogSchema, "A page of the key's calls.") },
  },
  async (c) => {
    const ws = c.var.session.ws;
    const { id } = c.req.valid("param");
    const query = c.req.valid("query");
    // 404 for a key of another workspace, before any shard is asked.
    await getKey(c.env, ws, id);
    const cursor = query.cursor ? decodeCursor(query.cursor) : null;
    const rows = await listRequests(c.env, ws, id, { limit: query.limit, cursor, outcome: query.outcome });
    return c.json(
      page(rows, query.limit, (r) => ({ t: Date.parse(r.at), id: r.id })),
      200,
    );
  },
);
