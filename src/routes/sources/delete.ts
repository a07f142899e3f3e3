import { SourceIdParam } from "../../sources/schemas";
import * as sources from "../../sources/service";
import { keyOperation } from "../operation";

export const deleteSource = keyOperation(
  "sources:delete",
  {
    method: "delete",
    path: "/v1/sources/{id}",
    tags: ["Sources"],
    operationId: "deleteSource",
    summary: "Delete a source",
    description: "Removes the source for good.",
    request: { params: SourceIdParam },
    responses: { 204: { description: "Deleted; no body." } },
  },
  async (c) => {
    await sources.deleteSource(c.env, c.var.apiKey.workspaceId, c.req.valid("param").id);
    return c.body(null, 204);
  },
);
