import { createMiddleware } from "hono/factory";
import { verify } from "hono/jwt";
import { z } from "zod";
import type { AppEnv, Session } from "../context";
import { Problem, unavailable } from "../http/problem";
import type { AppOptions } from "../options";
import { bearerToken, invalidCredentials } from "./bearer";
import { authRefusal } from "./failed-auth-throttle";

/** Console sessions: HS256 JWTs issued by the login system, verified here. */
const claimsSchema = z.object({
  sub: z.string().min(1).max(200),
  ws: z.string().min(1).max(200),
  role: z.enum(["admin", "member"]),
  exp: z.number().int(),
  iat: z.number().int(),
  iss: z.string().optional(),
  aud: z.union([z.string(), z.array(z.string())]).optional(),
}) satisfies z.ZodType<Session>;

// Tolerated clock difference with the token issuer, for `iat` only.
const CLOCK_SKEW_SECONDS = 60;
/**
 * Longest session a token may claim (exp - iat). A stolen token is only as
 * bad as its lifetime, and the login system never needs to mint longer ones.
 */
const MAX_SESSION_SECONDS = 24 * 3600;

type SessionOptions = Pick<AppOptions, "sessionSecret" | "sessionIssuer" | "sessionAudience">;

async function verifySession(token: string, options: SessionOptions, nowMs = Date.now()): Promise<Session> {
  // A missing or short secret is never used: an HS256 key under 32 bytes can be
  // brute-forced offline from one token. 503 says "not configured", not "bad token".
  if (!options.sessionSecret) throw unavailable("Session verification is not configured.", "session_secret_missing_or_short");
  let payload: unknown;
  try {
    // The algorithm is pinned: a token whose header says `none`, RS256 or
    // anything but HS256 is refused before its signature is looked at.
    // Time claims are checked below, after the signature, so that a forged
    // token is always "invalid", never "expired".
    payload = await verify(token, options.sessionSecret, { alg: "HS256", exp: false, iat: false, nbf: true });
  } catch {
    throw invalidCredentials("The session token is not valid.");
  }
  const parsed = claimsSchema.safeParse(payload);
  if (!parsed.success) throw invalidCredentials("The session token lacks a required claim.");
  const claims = parsed.data;
  // Issuer and audience pin tokens to this service when the login system signs
  // tokens for several services with one secret (RFC 7519 §4.1.1, §4.1.3).
  if (options.sessionIssuer !== null && claims.iss !== options.sessionIssuer) {
    throw invalidCredentials("The session token was issued for another issuer.");
  }
  if (options.sessionAudience !== null) {
    const audiences = typeof claims.aud === "string" ? [claims.aud] : (claims.aud ?? []);
    if (!audiences.includes(options.sessionAudience)) throw invalidCredentials("The session token is meant for another audience.");
  }
  if (claims.exp - claims.iat > MAX_SESSION_SECONDS) throw invalidCredentials("The session token claims a lifetime over 24 hours.");
  const now = Math.floor(nowMs / 1000);
  if (claims.iat > now + CLOCK_SKEW_SECONDS) throw invalidCredentials("The session token is not valid yet.");
  if (claims.exp <= now) throw new Problem("expired_credentials", "The session has expired; sign in again.");
  return claims;
}

/** Requires a console session; key management is for workspace admins only. */
export const requireAdminSession = createMiddleware<AppEnv>(async (c, next) => {
  let session: Session;
  try {
    session = await verifySession(bearerToken(c.req.header("Authorization")), c.var.options);
  } catch (error) {
    throw await authRefusal(c, error);
  }
  c.set("principal", { workspaceId: session.ws, userId: session.sub });
  if (session.role !== "admin") throw new Problem("forbidden", "Only workspace admins can manage API keys.");
  c.set("session", session);
  await next();
});
