import { database } from "../../db/client";
import { jsonResponse } from "../../http/openapi";
import { readPolicyRow } from "../../policy/store";
import { adminOperation } from "../operation";
import { KeyPolicySchema, toPolicyRecord } from "./schemas";

export const getKeyPolicy = adminOperation(
  {
    method: "get",
    path: "/v1/key-policy",
    tags: ["Key policy"],
    operationId: "getKeyPolicy",
    summary: "Get the workspace's key policy",
    description:
      "The rules the workspace's keys must follow: a maximum lifetime, a required IP allowlist, and revocation of idle keys. " +
      "A workspace that never saved a policy has every rule off.",
    responses: { 200: jsonResponse(KeyPolicySchema, "The key policy.") },
  },
  async (c) => c.json(toPolicyRecord(await readPolicyRow(database(c.env.DB), c.var.session.ws)), 200),
);
