import { jsonResponse } from "../../http/openapi";
import { SourceIdParam, SourceSchema } from "../../sources/schemas";
import * as sources from "../../sources/service";
import { keyOperation } from "../operation";

export const getSource = keyOperation(
  "sources:read",
  {
    method: "get",
    path: "/v1/sources/{id}",
    tags: ["Sources"],
    operationId: "getSource",
    summary: "Get a source",
    description: "One source of this workspace by id; 404 for an id of another workspace.",
    request: { params: SourceIdParam },
    responses: { 200: jsonResponse(SourceSchema, "The source.") },
  },
  async (c) => c.json(await sources.getSource(c.env, c.var.apiKey.workspaceId, c.req.valid("param").id), 200),
);
