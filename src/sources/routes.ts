import { createRoute } from "@hono/zod-openapi";
import { bodyErrorResponses, errorResponses, jsonResponse, openApiRouter } from "../http/openapi";
import { requireKey } from "../keys/require-key";
import { CreateSourceBody, ListSourcesQuery, SourceIdParam, SourceListSchema, SourceSchema, UpdateSourceBody } from "./schemas";
import { createSource, deleteSource, getSource, listSources, updateSource } from "./service";

const security = [{ apiKey: [] }];
const tags = ["Sources"];
const scopeNote = (scope: string) => `Requires an API key with the \`${scope}\` scope.`;

export const sourceRoutes = openApiRouter();

sourceRoutes.openapi(
  createRoute({
    method: "get",
    path: "/v1/sources",
    tags,
    security,
    operationId: "listSources",
    summary: "List sources",
    description: `This workspace's sources, newest first, a page at a time. ${scopeNote("sources:read")}`,
    middleware: [requireKey("sources:read")] as const,
    request: { query: ListSourcesQuery },
    responses: { 200: jsonResponse(SourceListSchema, "A page of sources."), ...errorResponses },
  }),
  async (c) => c.json(await listSources(c.env, c.get("apiKey").workspaceId, c.req.valid("query")), 200),
);

sourceRoutes.openapi(
  createRoute({
    method: "get",
    path: "/v1/sources/{id}",
    tags,
    security,
    operationId: "getSource",
    summary: "Get a source",
    description: `One source of this workspace by id; 404 for an id of another workspace. ${scopeNote("sources:read")}`,
    middleware: [requireKey("sources:read")] as const,
    request: { params: SourceIdParam },
    responses: { 200: jsonResponse(SourceSchema, "The source."), ...errorResponses },
  }),
  async (c) => c.json(await getSource(c.env, c.get("apiKey").workspaceId, c.req.valid("param").id), 200),
);

sourceRoutes.openapi(
  createRoute({
    method: "post",
    path: "/v1/sources",
    tags,
    security,
    operationId: "createSource",
    summary: "Create a source",
    description: `A \`url\` source needs \`url\`; a \`text\` source needs \`content\`. ${scopeNote("sources:write")}`,
    middleware: [requireKey("sources:write")] as const,
    request: { body: { required: true, content: { "application/json": { schema: CreateSourceBody } } } },
    responses: { 201: jsonResponse(SourceSchema, "The new source."), ...bodyErrorResponses },
  }),
  async (c) => c.json(await createSource(c.env, c.get("apiKey").workspaceId, c.req.valid("json")), 201),
);

sourceRoutes.openapi(
  createRoute({
    method: "patch",
    path: "/v1/sources/{id}",
    tags,
    security,
    operationId: "updateSource",
    summary: "Update a source",
    description: `Changes only the fields sent; the result must still be a valid source. ${scopeNote("sources:write")}`,
    middleware: [requireKey("sources:write")] as const,
    request: {
      params: SourceIdParam,
      body: { required: true, content: { "application/json": { schema: UpdateSourceBody } } },
    },
    responses: { 200: jsonResponse(SourceSchema, "The updated source."), ...bodyErrorResponses },
  }),
  async (c) =>
    c.json(await updateSource(c.env, c.get("apiKey").workspaceId, c.req.valid("param").id, c.req.valid("json")), 200),
);

sourceRoutes.openapi(
  createRoute({
    method: "delete",
    path: "/v1/sources/{id}",
    tags,
    security,
    operationId: "deleteSource",
    summary: "Delete a source",
    description: `Removes the source for good. ${scopeNote("sources:delete")}`,
    middleware: [requireKey("sources:delete")] as const,
    request: { params: SourceIdParam },
    responses: { 204: { description: "Deleted; no body." }, ...errorResponses },
  }),
  async (c) => {
    await deleteSource(c.env, c.get("apiKey").workspaceId, c.req.valid("param").id);
    return c.body(null, 204);
  },
);
