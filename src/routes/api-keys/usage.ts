import { z } from "@hono/zod-openapi";
import { jsonResponse } from "../../http/openapi";
import { getKey } from "../../keys/queries";
import { dailyUsage, lastDays } from "../../usage/daily-usage";
import { OUTCOMES } from "../../usage/outcomes";
import { adminOperation } from "../operation";
import { KeyIdParam } from "./schemas";

/** The period of the usage operations: UTC days ending today. */
export const UsageQuery = z.object({
  days: z.coerce.number().int().min(1).max(90).default(30).openapi({ description: "How many UTC days, ending today, 1–90.", example: 30 }),
});

const OUTCOME_MEANINGS: Record<(typeof OUTCOMES)[number], string> = {
  ok: "served: the key passed every check (the route's own answer may still be a 4xx, such as a 404)",
  insufficient_scope: "refused 403: the key lacks the route's scope",
  ip_not_allowed: "refused 403: the caller's address is outside the key's IP allowlist",
  rate_limited: "refused 429: over the key's rate limit",
  revoked: "refused 401: the key is revoked",
  expired: "refused 401: the key has expired",
};

/** Calls per outcome, every outcome present (zeros included). */
export const OutcomeCountsSchema = z
  .object(
    Object.fromEntries(
      OUTCOMES.map((o) => [
        o,
        z
          .number()
          .int()
          .openapi({ description: `Calls ${OUTCOME_MEANINGS[o]}.`, example: o === "ok" ? 1398 : 0 }),
      ]),
    ) as Record<(typeof OUTCOMES)[number], z.ZodNumber>,
  )
  .openapi("OutcomeCounts", {
    description:
      "Every call presented with the key that day, by outcome, zeros included. Counted since the request log exists: days before it show zeros here.",
    example: { ok: 1398, insufficient_scope: 12, ip_not_allowed: 0, rate_limited: 13, revoked: 0, expired: 0 },
  });

export const KeyUsageSchema = z
  .object({
    data: z
      .array(
        z.object({
          date: z.string().openapi({ description: "A UTC day, `YYYY-MM-DD`.", example: "2026-11-26" }),
          requests: z.number().int().openapi({
            description:
              "Authenticated calls with the key that day: calls that passed verification and the IP allowlist (`ok`, `insufficient_scope` and `rate_limited`).",
            example: 1423,
          }),
          outcomes: OutcomeCountsSchema,
        }),
      )
      .openapi({ description: "One entry per day, oldest first, days without calls included (0)." }),
    total: z.number().int().openapi({ description: "The sum over the days.", example: 20481 }),
  })
  .openapi("KeyUsage", {
    description:
      "A key's authenticated calls per UTC day: every call that passed verification counts (with or without the route's scope; refused by its IP allowlist or rate limit too). Fresh within a few seconds; uses an isolate had queued when it stopped may be missing, and no use is ever counted twice.",
  });

export const getApiKeyUsage = adminOperation(
  {
    method: "get",
    path: "/v1/api-keys/{id}/usage",
    tags: ["API keys"],
    operationId: "getApiKeyUsage",
    summary: "Daily usage of an API key",
    description:
      "The key's authenticated calls per UTC day over the last `days` days (default 30), oldest first, zero days included, each day with every call presented with the key by outcome (served or refused, and why). Counted by the last-used recorder, never by a database write per call.",
    request: { params: KeyIdParam, query: UsageQuery },
    responses: { 200: jsonResponse(KeyUsageSchema, "Calls per day.") },
  },
  async (c) => {
    const ws = c.var.session.ws;
    const { id } = c.req.valid("param");
    // 404 for a key of another workspace, before anything is counted.
    await getKey(c.env, ws, id);
    const days = lastDays(c.req.valid("query").days);
    const counts = (await dailyUsage(c.env, c.var.services.usage, ws, id, days[0]!)).get(id);
    const data = days.map((date) => {
      const day = counts?.get(date);
      return {
        date,
        requests: day?.requests ?? 0,
        outcomes: Object.fromEntries(OUTCOMES.map((o, i) => [o, day?.outcomes[i] ?? 0])) as Record<(typeof OUTCOMES)[number], number>,
      };
    });
    return c.json({ data, total: data.reduce((sum, d) => sum + d.requests, 0) }, 200);
  },
);
