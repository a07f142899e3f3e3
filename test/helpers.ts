import { env, exports } from "cloudflare:workers";
import { expect } from "vitest";

export const SECRET = env.SESSION_SECRET;
const BASE = "https://owlish.test";

const b64url = (s: string | Uint8Array) => {
  const bytes = typeof s === "string" ? new TextEncoder().encode(s) : s;
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
};

/** Signs a JWT the way the console's login system does (HS256 unless told otherwise). */
export async function signToken(
  claims: Record<string, unknown>,
  { secret = SECRET, alg = "HS256" }: { secret?: string; alg?: string } = {},
): Promise<string> {
  const head = `${b64url(JSON.stringify({ alg, typ: "JWT" }))}.${b64url(JSON.stringify(claims))}`;
  if (alg === "none") return `${head}.`;
  const hash = { HS256: "SHA-256", HS384: "SHA-384", HS512: "SHA-512" }[alg] ?? "SHA-256";
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash }, false, ["sign"]);
  const sig = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(head)));
  return `${head}.${b64url(sig)}`;
}

export async function session(ws = "ws_a", role: "admin" | "member" = "admin", sub = "usr_admin") {
  const now = Math.floor(Date.now() / 1000);
  return signToken({ sub, ws, role, iat: now, exp: now + 3600 });
}

/** Calls the worker through its real fetch handler, as an HTTP client would. */
export function call(method: string, path: string, init: { token?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  const headers = new Headers(init.headers);
  if (init.token) headers.set("Authorization", `Bearer ${init.token}`);
  let body: string | undefined;
  if (init.body !== undefined) {
    body = typeof init.body === "string" ? init.body : JSON.stringify(init.body);
    if (!headers.has("Content-Type")) headers.set("Content-Type", "application/json");
  }
  return exports.default.fetch(new Request(BASE + path, { method, headers, body }));
}

export async function createKey(
  token: string,
  body: { name?: string; scopes?: string[]; expiresAt?: string | null } = {},
): Promise<{ id: string; key: string; prefix: string; [k: string]: unknown }> {
  const res = await call("POST", "/v1/api-keys", {
    token,
    body: { name: "test key", scopes: ["sources:read", "sources:write", "sources:delete"], ...body },
  });
  if (res.status !== 201) throw new Error(`create key: ${res.status} ${await res.text()}`);
  return res.json();
}

export async function problem(res: Response) {
  expect(res.headers.get("Content-Type")).toBe("application/problem+json");
  return (await res.json()) as { type: string; title: string; status: number; detail: string; code: string; errors?: { path: string; message: string }[]; requiredScope?: string };
}
