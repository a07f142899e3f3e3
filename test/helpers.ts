import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { isolate, type RequestInit } from "./isolate";

export const SECRET = env.SESSION_SECRET;

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

/** Calls the current test isolate's app, as an HTTP client would. */
export function call(method: string, path: string, init: RequestInit = {}) {
  return isolate().call(method, path, init);
}

export async function createKey(
  token: string,
  body: { name?: string; scopes?: string[]; expiresAt?: string | null } = {},
): Promise<{ id: string; key: string; prefix: string; [k: string]: unknown }> {
  // Settled: the key's KV copy is written before the test goes on, as it would be long before a real client's first use.
  const res = await isolate().settled({}, "POST", "/v1/api-keys", {
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

let wsCounter = 0;
/** A workspace id no other test uses, so one test's keys never show up in another's lists or counts. */
export const freshWs = (label = "ws") => `${label}_${++wsCounter}_${crypto.randomUUID().slice(0, 8)}`;
