import type { Context } from "hono";
import type { AppEnv, Session } from "../context";
import type { Actor, SystemActorId } from "../keys/actor";
import type { VerifiedKey } from "../keys/verify/verified-key";

// Client-supplied headers are stored, so they are bounded: an IPv6 address is
// at most 45 characters, and no honest User-Agent needs more than 512.
const MAX_IP_LENGTH = 64;
const MAX_USER_AGENT_LENGTH = 512;

/** The request's client, as the audit trail records it. */
function client(c: Context<AppEnv>) {
  return {
    // Set by Cloudflare's edge for every request; a client cannot choose it there.
    clientIp: c.req.header("CF-Connecting-IP")?.slice(0, MAX_IP_LENGTH) ?? null,
    userAgent: c.req.header("User-Agent")?.slice(0, MAX_USER_AGENT_LENGTH) ?? null,
  };
}

/** A workspace admin, by their console session. */
export const adminActor = (c: Context<AppEnv>, session: Session): Actor => ({
  type: "admin",
  workspaceId: session.ws,
  userId: session.sub,
  ...client(c),
});

/** The calling API key, acting on itself (self-revoke). */
export const keyActor = (c: Context<AppEnv>, key: VerifiedKey): Actor => ({
  type: "key",
  workspaceId: key.workspaceId,
  keyId: key.id,
  ...client(c),
});

/** The service acting on a report (e.g. GitHub's secret scanning), from the reporter's request. */
export const systemActor = (c: Context<AppEnv>, id: SystemActorId): Actor => ({ type: "system", id, ...client(c) });
