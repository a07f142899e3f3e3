import type { Context } from "hono";
import type { AppEnv } from "../context";
import type { KeyChangeDeps } from "../keys/change";

/** What the write path (keys/change.ts) needs of a request: its bindings, its waitUntil, the isolate's key store. */
export const changeDeps = (c: Context<AppEnv>): KeyChangeDeps => ({
  env: c.env,
  ctx: c.executionCtx,
  keys: c.var.services.keys,
  requestUrl: c.req.url,
});
