import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MAX_BODY_BYTES } from "../../src/app";
import { d1FailingOnExecute, failingKv, fetchWith, recorderStub, unreachableD1 } from "../support/bindings";
import { call, captureConsole, createKey, freshWs, problem, session, signToken } from "../support/helpers";
import { freshIsolate } from "../support/isolate";

/**
 * No secret leaks anywhere: one structured log line per request
 * that never holds a key, a session token or an Authorization header; a
 * request id on every response, echoed in problem+json; nosniff everywhere;
 * no-store on everything that carries key data.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface RequestLine {
  level: string;
  event: "request";
  requestId: string;
  method: string;
  route: string;
  status: number;
  outcome: string;
  keyId?: string;
  userId?: string;
  workspaceId?: string;
  durationMs: number;
}
const requestLines = (lines: string[]): RequestLine[] =>
  lines.filter((l) => l.includes('"event":"request"')).map((l) => JSON.parse(l) as RequestLine);

let capture: ReturnType<typeof captureConsole>;
beforeEach(() => {
  freshIsolate();
  capture = captureConsole();
});
afterEach(() => capture.restore());

describe("logs", () => {
  it("with LOG_SUCCESSES=false keep refusals and drop successes", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin);
    capture.lines.length = 0;
    const quiet = { LOG_SUCCESSES: "false" };
    expect((await fetchWith(quiet, "GET", "/v1/key", { token: k.key })).status).toBe(200);
    expect((await fetchWith(quiet, "GET", "/v1/key", { token: "sk_live_nope" })).status).toBe(401);
    expect(requestLines(capture.lines).map((l) => l.status)).toEqual([401]);
    expect((await fetchWith({}, "GET", "/v1/key", { token: k.key })).status).toBe(200);
    expect(requestLines(capture.lines).map((l) => l.status)).toEqual([401, 200]);
  });

  it("never contain a key, a session token or an Authorization header, whatever the client sends where", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    const member = await session(ws, "member");
    const k = await createKey(admin);
    const revoked = await createKey(admin);
    await call("POST", `/v1/api-keys/${revoked.id}/revoke`, { token: admin });
    const now = Math.floor(Date.now() / 1000);
    const expiredToken = await signToken({ sub: "usr_x", ws, role: "admin", iat: now - 100, exp: now - 10 });
    const forgedToken = admin.slice(0, -4) + (admin.endsWith("AAAA") ? "BBBB" : "AAAA");
    const secrets = [k.key, revoked.key, admin, member, expiredToken, forgedToken];

    const everywhere = (secret: string) => ({
      "X-Request-Id": secret,
      "User-Agent": secret,
      "CF-Connecting-IP": "203.0.113.50",
      Cookie: `session=${secret}`,
    });
    // Uses of valid, revoked, expired and forged credentials, with the secret
    // also in the path, the query, the body, and other headers.
    await call("GET", "/v1/key", { token: k.key, headers: everywhere(k.key) });
    await call("GET", `/v1/sources?cursor=${k.key}`, { token: k.key, headers: everywhere(k.key) });
    await call("GET", `/v1/sources/${k.key}`, { token: k.key });
    await call("POST", "/v1/sources", { token: k.key, body: { type: "text", name: k.key, content: admin } });
    await call("POST", "/v1/sources", { token: k.key, body: `{"name": "${k.key}", broken` });
    await call("GET", "/v1/key", { token: revoked.key });
    await call("GET", "/v1/key", { token: `${k.key.slice(0, -1)}x` });
    await call("GET", "/v1/key", { headers: { Authorization: `Basic ${btoa(`user:${k.key}`)}` } });
    await call("GET", "/v1/key", { headers: { Authorization: k.key } });
    await call("GET", `/v1/api-keys/${admin}`, { token: admin, headers: everywhere(admin) });
    await call("GET", "/v1/api-keys", { token: member });
    await call("GET", "/v1/api-keys", { token: expiredToken });
    await call("GET", "/v1/api-keys", { token: forgedToken });
    await call("GET", `/v1/audit-events?keyId=${k.key}`, { token: admin });
    await call("POST", "/v1/api-keys", { token: admin, body: { name: k.key, scopes: ["sources:read"] } });
    await call("GET", `/nope/${k.key}`, { token: k.key });
    // Failures inside: storage down, KV failing, the recorder failing.
    const failingDo = recorderStub({ record: () => Promise.reject(new Error("DO down")) });
    await fetchWith({ KEY_CACHE: failingKv(), LAST_USED: failingDo }, "GET", "/v1/sources", { token: k.key });
    await fetchWith({ DB: unreachableD1(), KEY_CACHE: failingKv() }, "GET", "/v1/key", { token: revoked.key });
    // D1 failing while running a query: the driver's error carries the query's bound values.
    freshIsolate();
    await fetchWith({ DB: d1FailingOnExecute(), KEY_CACHE: failingKv() }, "GET", "/v1/key", { token: k.key });
    await fetchWith({ DB: d1FailingOnExecute() }, "GET", `/v1/api-keys/${k.id}`, {
      token: admin,
      headers: { "User-Agent": "ua-in-a-query" },
    });
    await fetchWith({ DB: unreachableD1() }, "POST", "/v1/api-keys", { token: admin, body: { name: "x", scopes: ["sources:read"] } });

    const text = capture.lines.join("\n");
    expect(capture.lines.length).toBeGreaterThan(20);
    for (const secret of secrets) {
      expect(text).not.toContain(secret);
      // Nor a recognisable piece of it: a key's random part, a token's signature.
      expect(text).not.toContain(secret.startsWith("sk_live_") ? secret.slice(8, 30) : secret.split(".")[2]!.slice(0, 20));
    }
    expect(text).not.toMatch(/authorization|bearer|basic /i);
    expect(text).not.toMatch(/sk_live_/);
    // Not even a key's hash, which a failing query would otherwise echo.
    expect(text).not.toMatch(/[0-9a-f]{64}/);
    expect(text).toContain("storage_error");
    // Every line is one JSON object: nothing free-form that could carry input.
    for (const line of capture.lines) expect(() => JSON.parse(line), line).not.toThrow();
  });

  it("write one line per request with request id, route, status, outcome, key id and workspace", async () => {
    const ws = freshWs();
    const admin = await session(ws, "admin", "usr_logs");
    const k = await createKey(admin, { scopes: ["sources:read"] });
    capture.lines.length = 0;

    const ok = await call("GET", `/v1/sources/src_missing`, { token: k.key });
    const scope = await call("DELETE", `/v1/sources/src_missing`, { token: k.key });
    const bad = await call("GET", "/v1/key", { token: "sk_live_nope" });
    const listed = await call("GET", "/v1/api-keys", { token: admin });
    const lines = requestLines(capture.lines);
    expect(lines).toHaveLength(4);
    const [l404, l403, l401, l200] = lines;

    expect(l404).toMatchObject({
      level: "info",
      requestId: ok.headers.get("X-Request-Id"),
      method: "GET",
      route: "/v1/sources/:id",
      status: 404,
      outcome: "not_found",
      keyId: k.id,
      workspaceId: ws,
    });
    expect(l403).toMatchObject({ route: "/v1/sources/:id", method: "DELETE", status: 403, outcome: "insufficient_scope", keyId: k.id });
    expect(l403!.requestId).toBe(scope.headers.get("X-Request-Id"));
    expect(l401).toMatchObject({
      route: "/v1/key",
      status: 401,
      outcome: "invalid_credentials",
      requestId: bad.headers.get("X-Request-Id"),
    });
    expect(l401!.keyId).toBeUndefined();
    expect(l200).toMatchObject({ route: "/v1/api-keys", status: 200, outcome: "ok", userId: "usr_logs", workspaceId: ws });
    expect(l200!.requestId).toBe(listed.headers.get("X-Request-Id"));
    for (const line of lines) expect(line.durationMs).toEqual(expect.any(Number));
  });

  it("log a 503 at error level with its outcome", async () => {
    const admin = await session(freshWs());
    capture.lines.length = 0;
    const res = await fetchWith({ DB: unreachableD1() }, "GET", "/v1/api-keys", { token: admin });
    expect(res.status).toBe(503);
    const [line] = requestLines(capture.lines);
    expect(line).toMatchObject({ level: "error", status: 503, outcome: "unavailable", requestId: res.headers.get("X-Request-Id") });
  });
});

describe("request id", () => {
  const requests: [string, string, Parameters<typeof call>[2]?][] = [
    ["GET", "/health"],
    ["GET", "/openapi.json"],
    ["GET", "/docs"],
    ["GET", "/no/such/route"],
    ["DELETE", "/health"],
    ["GET", "/v1/key"],
    ["GET", "/v1/key", { token: "sk_live_bad" }],
    ["POST", "/v1/sources", { token: "sk_live_bad", body: "x", headers: { "Content-Type": "text/plain" } }],
    ["OPTIONS", "/v1/sources", { headers: { Origin: "https://evil.example", "Access-Control-Request-Method": "GET" } }],
  ];

  it("is on every response, a fresh UUID each time, with nosniff", async () => {
    const seen = new Set<string>();
    for (const [method, path, init] of requests) {
      const res = await call(method, path, init);
      const id = res.headers.get("X-Request-Id");
      expect(id, `${method} ${path}`).toMatch(UUID);
      expect(res.headers.get("X-Content-Type-Options"), `${method} ${path}`).toBe("nosniff");
      seen.add(id!);
    }
    expect(seen.size).toBe(requests.length);
  });

  it("is echoed as requestId in every problem+json", async () => {
    const admin = await session(freshWs());
    const bodies = [
      await call("GET", "/v1/key"),
      await call("GET", "/v1/key", { token: "sk_live_bad" }),
      await call("GET", "/v1/api-keys?limit=0", { token: admin }),
      await call("GET", "/v1/api-keys/key_none", { token: admin }),
      await call("PUT", "/v1/api-keys", { token: admin }),
      await call("POST", "/v1/api-keys", { token: admin, body: "x".repeat(MAX_BODY_BYTES + 1) }),
      await call("POST", "/v1/api-keys", { token: admin, body: "{}", headers: { "Content-Type": "text/plain" } }),
      await fetchWith({ DB: unreachableD1() }, "GET", "/v1/api-keys", { token: admin }),
    ];
    for (const res of bodies) {
      const body = await problem(res);
      expect(body.status).toBeGreaterThanOrEqual(400);
      expect((body as { requestId?: string }).requestId, `${body.status} ${body.code}`).toBe(res.headers.get("X-Request-Id"));
    }
  });

  it("is never taken from the client, so a client cannot write into our logs", async () => {
    const res = await call("GET", "/health", { headers: { "X-Request-Id": "client-chosen-id" } });
    expect(res.headers.get("X-Request-Id")).toMatch(UUID);
    expect(capture.lines.join("\n")).not.toContain("client-chosen-id");
  });
});

describe("Cache-Control: no-store", () => {
  it("is on every response that carries key data, and on every /v1 error", async () => {
    const admin = await session(freshWs());
    const created = await call("POST", "/v1/api-keys", { token: admin, body: { name: "cache", scopes: ["sources:read"] } });
    const k = await created.clone().json<{ id: string; key: string }>();
    const responses: [string, Response][] = [
      ["create", created],
      ["list", await call("GET", "/v1/api-keys", { token: admin })],
      ["list revoked", await call("GET", "/v1/api-keys?status=revoked", { token: admin })],
      ["get", await call("GET", `/v1/api-keys/${k.id}`, { token: admin })],
      ["calling key", await call("GET", "/v1/key", { token: k.key })],
      ["audit", await call("GET", "/v1/audit-events", { token: admin })],
      ["sources", await call("GET", "/v1/sources", { token: k.key })],
      ["revoke", await call("POST", `/v1/api-keys/${k.id}/revoke`, { token: admin })],
      ["401", await call("GET", "/v1/key", { token: k.key })],
      ["404", await call("GET", "/v1/api-keys/key_none", { token: admin })],
    ];
    for (const [what, res] of responses) {
      expect(res.status, what).toBeLessThan(500);
      expect(res.headers.get("Cache-Control"), what).toBe("no-store");
    }
  });
});
