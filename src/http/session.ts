import { createMiddleware } from "hono/factory";
import { verify } from "hono/jwt";
import { z } from "zod";
import type { AppEnv } from "../app-env";
import { bearerToken, invalidCredentials } from "./bearer";
import { Problem, unauthorized } from "./problem";

/** Console sessions: HS256 JWTs issued by the login system, verified here. */
const claimsSchema = z.object({
  sub: z.string().min(1).max(200),
  ws: z.string().min(1).max(200),
  role: z.enum(["admin", "member"]),
  exp: z.number().int(),
  iat: z.number().int(),
});
export type Session = z.infer<typeof claimsSchema>;

// Tolerated clock difference with the token issuer, for `iat` only.
const CLOCK_SKEW_SECONDS = 60;

export async function verifySession(token: string, secret: string, nowMs = Date.now()): Promise<Session> {
  if (!secret) throw new Problem(503, "unavailable", "Session verification is not configured.");
  let payload: unknown;
  try {
    // The algorithm is pinned: a token whose header says `none`, RS256 or
    // anything but HS256 is refused before its signature is looked at.
    // Time claims are checked below, after the signature, so that a forged
    // token is always "invalid", never "expired".
    payload = await verify(token, secret, { alg: "HS256", exp: false, iat: false, nbf: true });
  } catch {
    throw invalidCredentials("The session token is not valid.");
  }
  const parsed = claimsSchema.safeParse(payload);
  if (!parsed.success) throw invalidCredentials("The session token lacks a required claim.");
  const now = Math.floor(nowMs / 1000);
  if (parsed.data.iat > now + CLOCK_SKEW_SECONDS) throw invalidCredentials("The session token is not valid yet.");
  if (parsed.data.exp <= now) throw unauthorized("expired_credentials", "The session has expired; sign in again.");
  return parsed.data;
}

/** Requires a console session; key management is for workspace admins only. */
export const requireAdminSession = createMiddleware<AppEnv>(async (c, next) => {
  const token = bearerToken(c.req.header("Authorization"));
  const session = await verifySession(token, c.env.SESSION_SECRET);
  c.set("principal", { workspaceId: session.ws, userId: session.sub });
  if (session.role !== "admin") {
    throw new Problem(403, "forbidden", "Only workspace admins can manage API keys.");
  }
  c.set("session", session);
  await next();
});
