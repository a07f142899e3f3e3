import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { session } from "../support/helpers";
import { isolate } from "../support/isolate";

const CONSOLE = "https://console.example.com";

/** A browser-like request from a page (its Origin among `headers`), to a worker whose CORS_ALLOWED_ORIGINS is `allowed`. */
const fromPage = (allowed: string | undefined, method: string, path: string, headers: Record<string, string>, body?: unknown) =>
  isolate().settled(allowed === undefined ? {} : { CORS_ALLOWED_ORIGINS: allowed }, method, path, { headers, body });

const preflight = (allowed: string | undefined, origin: string, path = "/v1/api-keys", method = "POST") =>
  fromPage(allowed, "OPTIONS", path, {
    Origin: origin,
    "Access-Control-Request-Method": method,
    "Access-Control-Request-Headers": "authorization, content-type",
  });

describe("CORS: nothing is allowed by default", () => {
  it("the shipped configuration names no origin", () => {
    expect(env.CORS_ALLOWED_ORIGINS ?? "").toBe("");
  });

  it("a page on another origin gets no Access-Control-Allow-Origin, even when the call itself succeeds", async () => {
    const res = await fromPage(undefined, "GET", "/v1/api-keys", { Origin: CONSOLE, Authorization: `Bearer ${await session()}` });
    expect(res.status).toBe(200);
    expect(res.headers.get("Access-Control-Allow-Origin")).toBeNull();
  });

  it("a preflight from another origin is not granted", async () => {
    const res = await preflight(undefined, CONSOLE);
    expect(res.headers.get("Access-Control-Allow-Origin")).toBeNull();
  });

  it("an empty or wildcard-only list allows nothing either", async () => {
    for (const allowed of ["", " , ", "*", "null"]) {
      const res = await preflight(allowed, CONSOLE);
      expect(res.headers.get("Access-Control-Allow-Origin"), `CORS_ALLOWED_ORIGINS=${JSON.stringify(allowed)}`).toBeNull();
      const sandboxed = await preflight(allowed, "null");
      expect(sandboxed.headers.get("Access-Control-Allow-Origin")).toBeNull();
    }
  });
});

describe("CORS: origins named in CORS_ALLOWED_ORIGINS", () => {
  const ALLOWED = ` ${CONSOLE}/ ,http://localhost:5173`;

  it("an allowed origin reads a successful response, without credentials mode", async () => {
    const res = await fromPage(ALLOWED, "GET", "/v1/api-keys", { Origin: CONSOLE, Authorization: `Bearer ${await session()}` });
    expect(res.status).toBe(200);
    expect(res.headers.get("Access-Control-Allow-Origin")).toBe(CONSOLE);
    expect(res.headers.get("Access-Control-Allow-Credentials")).toBeNull();
    expect(res.headers.get("Vary") ?? "").toMatch(/origin/i);
    expect(await res.json()).toMatchObject({ data: [] });
  });

  it("the second origin of the list is allowed as well", async () => {
    const res = await preflight(ALLOWED, "http://localhost:5173");
    expect(res.headers.get("Access-Control-Allow-Origin")).toBe("http://localhost:5173");
  });

  it("a preflight is answered 204 without credentials, granting the methods and headers the console needs", async () => {
    const res = await preflight(ALLOWED, CONSOLE);
    expect(res.status).toBe(204);
    expect(res.headers.get("Access-Control-Allow-Origin")).toBe(CONSOLE);
    const methods = (res.headers.get("Access-Control-Allow-Methods") ?? "").split(",");
    expect(methods).toEqual(expect.arrayContaining(["GET", "POST", "PATCH", "DELETE"]));
    const headers = (res.headers.get("Access-Control-Allow-Headers") ?? "").toLowerCase().split(",");
    expect(headers).toEqual(expect.arrayContaining(["authorization", "content-type"]));
    expect(Number(res.headers.get("Access-Control-Max-Age"))).toBeGreaterThan(0);
    expect(res.headers.get("Access-Control-Allow-Credentials")).toBeNull();
  });

  it("preflights work on routes with an id, such as revoke and delete", async () => {
    const revoke = await preflight(ALLOWED, CONSOLE, "/v1/api-keys/key_123/revoke", "POST");
    expect(revoke.status).toBe(204);
    expect(revoke.headers.get("Access-Control-Allow-Origin")).toBe(CONSOLE);
    const del = await preflight(ALLOWED, CONSOLE, "/v1/sources/src_123", "DELETE");
    expect(del.status).toBe(204);
    expect(del.headers.get("Access-Control-Allow-Origin")).toBe(CONSOLE);
  });

  it("an origin not in the list gets nothing, neither on preflight nor on the call", async () => {
    for (const origin of ["https://evil.example", "https://console.example.com.evil.example", "http://console.example.com"]) {
      const pre = await preflight(ALLOWED, origin);
      expect(pre.headers.get("Access-Control-Allow-Origin"), origin).toBeNull();
      const res = await fromPage(ALLOWED, "GET", "/v1/api-keys", { Origin: origin, Authorization: `Bearer ${await session()}` });
      expect(res.headers.get("Access-Control-Allow-Origin"), origin).toBeNull();
    }
  });

  it("errors are readable by an allowed console: a 401 problem carries the CORS headers and exposes WWW-Authenticate", async () => {
    const res = await fromPage(ALLOWED, "GET", "/v1/api-keys", { Origin: CONSOLE, Authorization: "Bearer not-a-token" });
    expect(res.status).toBe(401);
    expect(res.headers.get("Access-Control-Allow-Origin")).toBe(CONSOLE);
    const exposed = (res.headers.get("Access-Control-Expose-Headers") ?? "").toLowerCase().split(",");
    expect(exposed).toEqual(expect.arrayContaining(["www-authenticate", "retry-after", "x-request-id"]));
    expect(((await res.json()) as { code: string }).code).toBe("invalid_credentials");
  });

  it("a key created from an allowed console comes back with the CORS header and the secret", async () => {
    const res = await fromPage(
      ALLOWED,
      "POST",
      "/v1/api-keys",
      { Origin: CONSOLE, Authorization: `Bearer ${await session()}` },
      { name: "from another origin", scopes: ["sources:read"] },
    );
    expect(res.status).toBe(201);
    expect(res.headers.get("Access-Control-Allow-Origin")).toBe(CONSOLE);
    expect(((await res.json()) as { key: string }).key).toMatch(/^sk_live_/);
  });
});
