import { z } from "@hono/zod-openapi";
import { jsonResponse } from "../../http/openapi";
import { getKey } from "../../keys/queries";
import { dailyUsage, lastDays } from "../../usage/daily-usage";
import { adminOperation } from "../operation";
import { KeyIdParam } from "./schemas";

/** The period of the usage operations: UTC days ending today. */
export const UsageQuery = z.object({
  days: z.coerce.number().int().min(1).max(90).default(30).openapi({ description: "How many UTC days, ending today, 1–90.", example: 30 }),
});

export const KeyUsageSchema = z
  .object({
    data: z
      .array(
        z.object({
          date: z.string().openapi({ description: "A UTC day, `YYYY-MM-DD`.", example: "2026-11-26" }),
          requests: z.number().int().openapi({ description: "Authenticated calls with the key that day.", example: 1423 }),
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
      "The key's authenticated calls per UTC day over the last `days` days (default 30), oldest first, zero days included. Counted by the last-used recorder, never by a database write per call.",
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
    const data = days.map((date) => ({ date, requests: counts?.get(date) ?? 0 }));
    return c.json({ data, total: data.reduce((sum, d) => sum + d.requests, 0) }, 200);
  },
);
