import { env } from "cloudflare:workers";
import { afterEach, expect, type MockInstance, vi } from "vitest";
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

/** Creates a source with an API key holding sources:write; throws (fixture failure) unless 201. */
export async function createSource<T = { id: string; name: string; [k: string]: unknown }>(
  key: string,
  body: Record<string, unknown> = { type: "text", name: "a source", content: "hello" },
): Promise<T> {
  const res = await call("POST", "/v1/sources", { token: key, body });
  if (res.status !== 201) throw new Error(`create source: ${res.status} ${await res.text()}`);
  return res.json();
}

/** A 400 invalid_request whose errors name `path`, each error with a message; returns the problem. */
export async function expectInvalid(res: Response, path: string) {
  expect(res.status).toBe(400);
  const body = await problem(res);
  expect(body).toMatchObject({ code: "invalid_request", status: 400 });
  expect(Array.isArray(body.errors)).toBe(true);
  expect(
    body.errors!.map((e) => e.path),
    JSON.stringify(body.errors),
  ).toContain(path);
  for (const e of body.errors!) expect(typeof e.message).toBe("string");
  return body;
}

/** A 404 not_found: what a missing resource, and another workspace's, answer alike. */
export async function expectNotFound(res: Response) {
  expect(res.status).toBe(404);
  expect(await problem(res)).toMatchObject({ code: "not_found", status: 404 });
}

export async function problem(res: Response) {
  expect(res.headers.get("Content-Type")).toBe("application/problem+json");
  return (await res.json()) as {
    type: string;
    title: string;
    status: number;
    detail: string;
    code: string;
    errors?: { path: string; message: string; rule?: string }[];
    requiredScope?: string;
    requestId?: string;
  };
}

let wsCounter = 0;
/** A workspace id no other test uses, so one test's keys never show up in another's lists or counts. */
export const freshWs = (label = "ws") => `${label}_${++wsCounter}_${crypto.randomUUID().slice(0, 8)}`;

/**
 * SHA-256 in hex through WebCrypto: an implementation independent of the
 * service's own (src/keys/format/hash.ts), to check what it stores.
 */
export async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Controlled time: Date (and so Date.now(), which the service reads for
 * expiry, memo ages and rate-limit windows) stands still at `at` until the
 * test moves it; timers stay real. Every test ends on the real clock again.
 */
export function freezeClock(at = Date.now()) {
  vi.useFakeTimers({ toFake: ["Date"], now: at });
  return {
    /** Moves the clock forward by `ms`. */
    advance: (ms: number) => vi.setSystemTime(Date.now() + ms),
  };
}
afterEach(() => {
  vi.useRealTimers();
});

/**
 * Everything written to the console while installed: `lines` one string per
 * call, `events()` the lines that are JSON (the service's structured logs).
 */
export function captureConsole() {
  const lines: string[] = [];
  const spies: MockInstance[] = (["log", "info", "warn", "error", "debug"] as const).map((level) =>
    vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
      lines.push(args.map((a) => (typeof a === "string" ? a : (JSON.stringify(a) ?? String(a)))).join(" "));
    }),
  );
  const events = (): Record<string, unknown>[] =>
    lines.flatMap((line) => {
      try {
        const parsed: unknown = JSON.parse(line);
        return parsed && typeof parsed === "object" ? [parsed as Record<string, unknown>] : [];
      } catch {
        return [];
      }
    });
  return {
    lines,
    events,
    restore: () => {
      for (const s of spies) s.mockRestore();
    },
  };
}

export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

/**
 * Follows nextCursor through a list route (`path` may carry its own query),
 * `limit` per page, and returns the pages. The walk expects at most `atMost`
 * items, so at most ceil(atMost / limit) pages: a cursor that never ends fails
 * there and then instead of walking on. `between(pagesSoFar)` runs before each
 * page after the first.
 */
export async function walkPages<T>(
  token: string,
  path: string,
  { limit, atMost, between }: { limit: number; atMost: number; between?: (pagesSoFar: number) => Promise<void> },
): Promise<T[][]> {
  const maxPages = Math.max(1, Math.ceil(atMost / limit));
  const pages: T[][] = [];
  let cursor: string | null = null;
  do {
    if (pages.length === maxPages)
      throw new Error(`${path}: still a nextCursor after the ${maxPages} pages that ${atMost} items fill at limit ${limit}`);
    if (pages.length > 0) await between?.(pages.length);
    const url: string = `${path}${path.includes("?") ? "&" : "?"}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const res = await call("GET", url, { token });
    expect(res.status, `GET ${url}`).toBe(200);
    const page = await res.json<Page<T>>();
    expect(page.data.length).toBeLessThanOrEqual(limit);
    // A page that has a next one is full: the cursor never leaves a gap.
    if (page.nextCursor !== null) expect(page.data.length, `GET ${url}`).toBe(limit);
    pages.push(page.data);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return pages;
}

/** The key record and audit event as the API documents them: one definition, the server's own schemas. */
export type KeyRecord = import("zod").infer<typeof import("../../src/routes/api-keys/schemas").KeyRecordSchema>;
export type AuditEvent = import("zod").infer<typeof import("../../src/routes/audit-events/list").AuditEventSchema>;
