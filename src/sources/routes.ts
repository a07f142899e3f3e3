import { keyRoute } from "../auth/route-auth";
import { jsonResponse, openApiRouter } from "../http/openapi";
import { CreateSourceBody, ListSourcesQuery, SourceIdParam, SourceListSchema, SourceSchema, UpdateSourceBody } from "./schemas";
import { createSource, deleteSource, getSource, listSources, updateSource } from "./service";

const tags = ["Sources"];

export const listSourcesRoute = keyRoute("sources:read", {
  method: "get",
  path: "/v1/sources",
  tags,
  operationId: "listSources",
  summary: "List sources",
  description: "This workspace's sources, newest first, a page at a time.",
  request: { query: ListSourcesQuery },
  responses: { 200: jsonResponse(SourceListSchema, "A page of sources.") },
});

export const getSourceRoute = keyRoute("sources:read", {
  method: "get",
  path: "/v1/sources/{id}",
  tags,
  operationId: "getSource",
  summary: "Get a source",
  description: "One source of this workspace by id; 404 for an id of another workspace.",
  request: { params: SourceIdParam },
  responses: { 200: jsonResponse(SourceSchema, "The source.") },
});

export const createSourceRoute = keyRoute("sources:write", {
  method: "post",
  path: "/v1/sources",
  tags,
  operationId: "createSource",
  summary: "Create a source",
  description: "A `url` source needs `url`; a `text` source needs `content`.",
  request: { body: { required: true, content: { "application/json": { schema: CreateSourceBody } } } },
  responses: { 201: jsonResponse(SourceSchema, "The new source.") },
});

export const updateSourceRoute = keyRoute("sources:write", {
  method: "patch",
  path: "/v1/sources/{id}",
  tags,
  operationId: "updateSource",
  summary: "Update a source",
  description: "Changes only the fields sent; the result must still be a valid source.",
  request: {
    params: SourceIdParam,
    body: { required: true, content: { "application/json": { schema: UpdateSourceBody } } },
  },
  responses: { 200: jsonResponse(SourceSchema, "The updated source.") },
});

export const deleteSourceRoute = keyRoute("sources:delete", {
  method: "delete",
  path: "/v1/sources/{id}",
  tags,
  operationId: "deleteSource",
  summary: "Delete a source",
  description: "Removes the source for good.",
  request: { params: SourceIdParam },
  responses: { 204: { description: "Deleted; no body." } },
});

/** The public sources API, for API keys with the scope each route names. */
export const sourceRoutes = openApiRouter()
  .openapi(listSourcesRoute, async (c) => c.json(await listSources(c.env, c.var.apiKey.workspaceId, c.req.valid("query")), 200))
  .openapi(getSourceRoute, async (c) => c.json(await getSource(c.env, c.var.apiKey.workspaceId, c.req.valid("param").id), 200))
  .openapi(createSourceRoute, async (c) => c.json(await createSource(c.env, c.var.apiKey.workspaceId, c.req.valid("json")), 201))
  .openapi(updateSourceRoute, async (c) =>
    c.json(await updateSource(c.env, c.var.apiKey.workspaceId, c.req.valid("param").id, c.req.valid("json")), 200),
  )
  .openapi(deleteSourceRoute, async (c) => {
    await deleteSource(c.env, c.var.apiKey.workspaceId, c.req.valid("param").id);
    return c.body(null, 204);
  });
