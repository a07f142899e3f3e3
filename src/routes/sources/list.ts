import { jsonResponse } from "../../http/openapi";
import { ListSourcesQuery, SourceListSchema } from "../../sources/schemas";
import * as sources from "../../sources/service";
import { keyOperation } from "../operation";

export const listSources = keyOperation(
  "sources:read",
  {
    method: "get",
    path: "/v1/sources",
    tags: ["Sources"],
    operationId: "listSources",
    summary: "List sources",
    description: "This workspace's sources, newest first, a page at a time.",
    request: { query: ListSourcesQuery },
    responses: { 200: jsonResponse(SourceListSchema, "A page of sources.") },
  },
  async (c) => c.json(await sources.listSources(c.env, c.var.apiKey.workspaceId, c.req.valid("query")), 200),
);
