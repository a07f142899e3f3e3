import { adminRoute } from "../auth/route-auth";
import { jsonResponse, openApiRouter } from "../http/openapi";
import { getKey } from "../keys/queries";
import { KeyIdParam } from "../keys/schemas";
import { dailyUsage, lastDays } from "./daily-usage";
import { KeyUsageSchema, UsageQuery, WorkspaceUsageSchema } from "./schemas";

export const keyUsageRoute = adminRoute({
  method: "get",
  path: "/v1/api-keys/{id}/usage",
  tags: ["API keys"],
  operationId: "getApiKeyUsage",
  summary: "Daily usage of an API key",
  description:
    "The key's authenticated calls per UTC day over the last `days` days (default 30), oldest first, zero days included. Counted by the last-used recorder, never by a database write per call.",
  request: { params: KeyIdParam, query: UsageQuery },
  responses: { 200: jsonResponse(KeyUsageSchema, "Calls per day.") },
});

export const workspaceUsageRoute = adminRoute({
  method: "get",
  path: "/v1/key-usage",
  tags: ["API keys"],
  operationId: "listApiKeyUsage",
  summary: "Usage of every API key",
  description:
    "Total authenticated calls per key of the workspace over the last `days` days (default 30): what the console's keys table shows, so idle keys stand out.",
  request: { query: UsageQuery },
  responses: { 200: jsonResponse(WorkspaceUsageSchema, "Calls per key.") },
});

/** How much each key is used (admins). */
export const usageRoutes = openApiRouter()
  .openapi(keyUsageRoute, async (c) => {
    const ws = c.var.session.ws;
    const { id } = c.req.valid("param");
    // 404 for a key of another workspace, before anything is counted.
    await getKey(c.env, ws, id);
    const days = lastDays(c.req.valid("query").days);
    const counts = (await dailyUsage(c.env, c.var.services.usage, ws, id, days[0]!)).get(id);
    const data = days.map((date) => ({ date, requests: counts?.get(date) ?? 0 }));
    return c.json({ data, total: data.reduce((sum, d) => sum + d.requests, 0) }, 200);
  })
  .openapi(workspaceUsageRoute, async (c) => {
    const ws = c.var.session.ws;
    const { days } = c.req.valid("query");
    const counts = await dailyUsage(c.env, c.var.services.usage, ws, null, lastDays(days)[0]!);
    const data = [...counts]
      .map(([keyId, perDay]) => ({ keyId, requests: [...perDay.values()].reduce((a, b) => a + b, 0) }))
      .filter((k) => k.requests > 0)
      .sort((a, b) => b.requests - a.requests || (a.keyId < b.keyId ? -1 : 1));
    return c.json({ data, days }, 200);
  });
