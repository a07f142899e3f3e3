import { log } from "../../lib/log";
import { eraseRequestLog } from "../../usage/request-log";
import { CALLS_MAX_AGE_MS } from "../../usage/request-log-store";
import { adminOperation } from "../operation";

export const eraseWorkspaceRequestLog = adminOperation(
  {
    method: "delete",
    path: "/v1/request-log",
    tags: ["API keys"],
    operationId: "eraseRequestLog",
    summary: "Erase the workspace's request log",
    description:
      "Deletes every request log entry of every key of the workspace (the calls' times, paths, addresses and countries), on every recorder shard: " +
      "from this call on none of them is shown, and calls made before it that are still on their way to a shard are refused when they arrive. " +
      `Without it, entries go by themselves after ${CALLS_MAX_AGE_MS / 86_400_000} days. The daily counts (numbers only) and each key's latest use stay. ` +
      "204 once every shard has deleted them; 503 if a shard could not be reached or has more left to delete: calling again is safe and finishes the job.",
    responses: { 204: { description: "Erased; no body." } },
  },
  async (c) => {
    const { ws, sub } = c.var.session;
    const entries = await eraseRequestLog(c.env, ws, Date.now());
    log("info", "request_log_erased", { workspaceId: ws, userId: sub, entries });
    return c.body(null, 204);
  },
);
