// Signs a console session token (HS256 JWT) the way the console's login system
// does. For local development and the bench only: production never runs this.
import { createHmac } from "node:crypto";

const b64url = (value) => Buffer.from(value).toString("base64url");

export function signSession(secret, { sub, ws, role, ttlSeconds = 12 * 3600, now = Math.floor(Date.now() / 1000) }) {
  const header = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const payload = b64url(JSON.stringify({ sub, ws, role, iat: now, exp: now + ttlSeconds }));
  const signature = createHmac("sha256", secret).update(`${header}.${payload}`).digest("base64url");
  return `${header}.${payload}.${signature}`;
}
