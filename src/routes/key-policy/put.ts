import { adminActor } from "../../auth/actor";
import { database } from "../../db/client";
import { jsonResponse } from "../../http/openapi";
import { policyRowAfter, readPolicyRow, savePolicy } from "../../policy/store";
import { findViolations } from "../../policy/violations";
import { adminOperation } from "../operation";
import { KeyPolicyBody, KeyPolicyResultSchema, PutKeyPolicyQuery, toPolicyRecord } from "./schemas";

export const putKeyPolicy = adminOperation(
  {
    method: "put",
    path: "/v1/key-policy",
    tags: ["Key policy"],
    operationId: "putKeyPolicy",
    summary: "Set the workspace's key policy",
    description: [
      "Replaces the whole policy and answers it with the working keys that do not comply today (`violations`).",
      "With `dryRun=true` nothing is saved or recorded: the answer shows what saving would do, so check it first.",
      "A saved change is recorded as a `key_policy.updated` audit event with the old and new values; saving the policy in force changes and records nothing.",
      "The policy binds keys as they are created, rolled and edited (422 `policy_violation` otherwise); keys that already exist keep working as they are,",
      "except that the idle rule revokes keys unused for its number of days, each announced by an `api_key.idle` event at least a week before.",
    ].join(" "),
    request: {
      query: PutKeyPolicyQuery,
      body: { required: true, content: { "application/json": { schema: KeyPolicyBody } } },
    },
    responses: {
      200: jsonResponse(KeyPolicyResultSchema, "The policy (saved, or as it would be) and the keys that do not comply with it."),
    },
  },
  async (c) => {
    const session = c.var.session;
    const next = c.req.valid("json");
    const { row, saved } =
      c.req.valid("query").dryRun === "true"
        ? {
            row: policyRowAfter(session.ws, await readPolicyRow(database(c.env.DB), session.ws), next, Date.now(), session.sub),
            saved: false,
          }
        : await savePolicy(c.env, session.ws, next, adminActor(c, session));
    const now = Date.now();
    const { violations, truncated } = await findViolations(c.env, session.ws, next, now);
    return c.json({ policy: toPolicyRecord(row), saved, violations, violationsTruncated: truncated }, 200);
  },
  { problems: ["conflict"] },
);
