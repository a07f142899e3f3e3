import { z } from "@hono/zod-openapi";
import { jsonResponse } from "../../http/openapi";
import { dailyUsage, lastDays } from "../../usage/daily-usage";
import { UsageQuery } from "../api-keys/usage";
import { adminOperation } from "../operation";

export const WorkspaceUsageSchema = z
  .object({
    data: z
      .array(
        z.object({
          keyId: z.string().openapi({ description: "The key's id.", example: "key_3kTMd9bF0aR2xQe7LpWz1Yc5" }),
          requests: z.number().int().openapi({ description: "Authenticated calls over the days.", example: 20481 }),
        }),
      )
      .openapi({ description: "Keys of the workspace used in the period, most used first; keys not listed were not used." }),
    days: z.number().int().openapi({ description: "The period, in UTC days ending today.", example: 30 }),
  })
  .openapi("WorkspaceKeyUsage", { description: "Calls per key of the workspace over the last days, for spotting idle keys." });

export const listApiKeyUsage = adminOperation(
  {
    method: "get",
    path: "/v1/key-usage",
    tags: ["API keys"],
    operationId: "listApiKeyUsage",
    summary: "Usage of every API key",
    description:
      "Total authenticated calls per key of the workspace over the last `days` days (default 30): what the console's keys table shows, so idle keys stand out.",
    request: { query: UsageQuery },
    responses: { 200: jsonResponse(WorkspaceUsageSchema, "Calls per key.") },
  },
  async (c) => {
    const ws = c.var.session.ws;
    const { days } = c.req.valid("query");
    const counts = await dailyUsage(c.env, c.var.services.usage, ws, null, lastDays(days)[0]!);
    const data = [...counts]
      .map(([keyId, perDay]) => ({ keyId, requests: [...perDay.values()].reduce((a, d) => a + d.requests, 0) }))
      .filter((k) => k.requests > 0)
      .sort((a, b) => b.requests - a.requests || (a.keyId < b.keyId ? -1 : 1));
    return c.json({ data, days }, 200);
  },
);
