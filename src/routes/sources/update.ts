import { jsonResponse } from "../../http/openapi";
import { SourceIdParam, SourceSchema, UpdateSourceBody } from "../../sources/schemas";
import * as sources from "../../sources/service";
import { keyOperation } from "../operation";

export const updateSource = keyOperation(
  "sources:write",
  {
    method: "patch",
    path: "/v1/sources/{id}",
    tags: ["Sources"],
    operationId: "updateSource",
    summary: "Update a source",
    description: "Changes only the fields sent; the result must still be a valid source.",
    request: {
      params: SourceIdParam,
      body: { required: true, content: { "application/json": { schema: UpdateSourceBody } } },
    },
    responses: { 200: jsonResponse(SourceSchema, "The updated source.") },
  },
  async (c) => c.json(await sources.updateSource(c.env, c.var.apiKey.workspaceId, c.req.valid("param").id, c.req.valid("json")), 200),
);
