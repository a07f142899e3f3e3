import { jsonResponse } from "../../http/openapi";
import { CreateSourceBody, SourceSchema } from "../../sources/schemas";
import * as sources from "../../sources/service";
import { keyOperation } from "../operation";

export const createSource = keyOperation(
  "sources:write",
  {
    method: "post",
    path: "/v1/sources",
    tags: ["Sources"],
    operationId: "createSource",
    summary: "Create a source",
    description: "A `url` source needs `url`; a `text` source needs `content`.",
    request: { body: { required: true, content: { "application/json": { schema: CreateSourceBody } } } },
    responses: { 201: jsonResponse(SourceSchema, "The new source.") },
  },
  async (c) => c.json(await sources.createSource(c.env, c.var.apiKey.workspaceId, c.req.valid("json")), 201),
);
