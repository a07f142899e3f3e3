import { describe, expect, it, onTestFinished } from "vitest";
import type { Env } from "../../src/env";
import { call, captureConsole, createKey, freshWs, problem, SECRET, session, signToken } from "../support/helpers";
import { buildRequest, Isolate, isolate, type RequestInit } from "../support/isolate";

/**
 * Console session verification: an HS256 JWT signed
 * with SESSION_SECRET (at least 32 bytes), claims sub, ws, role
 * (admin|member), exp and iat, a lifetime of at most 24 hours, and iss / aud
 * when SESSION_ISSUER / SESSION_AUDIENCE are set. Anything else is 401. Key
 * routes need role admin; a member gets 403.
 */

const now = () => Math.floor(Date.now() / 1000);
const validClaims = (over: Record<string, unknown> = {}) => ({
  sub: "usr_admin",
  ws: "ws_session",
  role: "admin",
  iat: now(),
  exp: now() + 3600,
  ...over,
});

const b64url = (s: string) =>
  btoa(String.fromCharCode(...new TextEncoder().encode(s)))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");

/** GET /v1/api-keys with a raw Authorization header (or none). */
function listWith(authorization?: string) {
  return call("GET", "/v1/api-keys", authorization === undefined ? {} : { headers: { Authorization: authorization } });
}

async function expect401(res: Response, code: "missing_credentials" | "invalid_credentials" | "expired_credentials") {
  expect(res.status).toBe(401);
  expect(res.headers.get("WWW-Authenticate") ?? "").toMatch(/^Bearer\b/);
  const body = await problem(res);
  expect(body.status).toBe(401);
  expect(body.code).toBe(code);
  return body;
}

describe("valid console sessions", () => {
  it("accepts a fresh HS256 admin token", async () => {
    const token = await signToken(validClaims());
    const res = await listWith(`Bearer ${token}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ data: [], nextCursor: null });
  });

  it.each(["bearer", "BEARER", "BeArEr"])("treats the scheme word %s case-insensitively", async (scheme) => {
    const token = await signToken(validClaims());
    const res = await listWith(`${scheme} ${token}`);
    expect(res.status).toBe(200);
  });

  it("uses the token's ws and sub: the key lands in that workspace, created by that user", async () => {
    const ws = freshWs();
    const token = await signToken(validClaims({ ws, sub: "usr_someone" }));
    const created = await createKey(token);
    expect(created.createdBy).toBe("usr_someone");
    const other = await signToken(validClaims({ ws: freshWs() }));
    const res = await call("GET", `/v1/api-keys/${created.id}`, { token: other });
    expect(res.status).toBe(404);
  });
});

describe("missing or non-Bearer credentials -> 401 missing_credentials", () => {
  it("no Authorization header", async () => {
    await expect401(await listWith(), "missing_credentials");
  });

  it.each([
    ["Basic", "Basic dXNlcjpwYXNzd29yZA=="],
    ["Token scheme", "Token abc.def.ghi"],
    ["empty header", ""],
    ["scheme only", "Bearer"],
    ["scheme with trailing space only", "Bearer   "],
  ])("%s", async (_label, header) => {
    await expect401(await listWith(header), "missing_credentials");
  });

  it("a valid session under another scheme word is still missing credentials", async () => {
    const token = await signToken(validClaims());
    await expect401(await listWith(`Basic ${token}`), "missing_credentials");
    await expect401(await listWith(`JWT ${token}`), "missing_credentials");
  });

  it("checks credentials before validating the body (no validation details to strangers)", async () => {
    const res = await call("POST", "/v1/api-keys", { body: { name: "", scopes: [] } });
    await expect401(res, "missing_credentials");
  });
});

describe("bad session tokens -> 401 invalid_credentials", () => {
  it("alg: none (unsigned)", async () => {
    const token = await signToken(validClaims(), { alg: "none" });
    expect(token.endsWith(".")).toBe(true);
    await expect401(await listWith(`Bearer ${token}`), "invalid_credentials");
  });

  it.each(["none", "None", "NONE"])("alg: %s with a signature part appended", async (alg) => {
    const valid = await signToken(validClaims());
    const [, payload, sig] = valid.split(".");
    const token = `${b64url(JSON.stringify({ alg, typ: "JWT" }))}.${payload}.${sig}`;
    await expect401(await listWith(`Bearer ${token}`), "invalid_credentials");
  });

  it.each(["HS384", "HS512"])("%s, correctly signed with the right secret", async (alg) => {
    const token = await signToken(validClaims(), { alg });
    await expect401(await listWith(`Bearer ${token}`), "invalid_credentials");
  });

  it("RS256 header over an HMAC made with the secret (algorithm confusion)", async () => {
    // signToken falls back to HMAC-SHA256 for unknown algs: the MAC is right, the header lies.
    const token = await signToken(validClaims(), { alg: "RS256" });
    await expect401(await listWith(`Bearer ${token}`), "invalid_credentials");
  });

  it("a header without alg", async () => {
    const valid = await signToken(validClaims());
    const [, payload, sig] = valid.split(".");
    const token = `${b64url(JSON.stringify({ typ: "JWT" }))}.${payload}.${sig}`;
    await expect401(await listWith(`Bearer ${token}`), "invalid_credentials");
  });

  it("signed with the wrong secret", async () => {
    const token = await signToken(validClaims(), { secret: `${SECRET}-not` });
    await expect401(await listWith(`Bearer ${token}`), "invalid_credentials");
  });

  it("signed with a different short secret", async () => {
    const token = await signToken(validClaims(), { secret: "x" });
    await expect401(await listWith(`Bearer ${token}`), "invalid_credentials");
  });

  it("tampered payload: a member token rewritten to admin", async () => {
    const ws = freshWs();
    const member = await signToken(validClaims({ ws, role: "member" }));
    const [head, , sig] = member.split(".");
    const forged = `${head}.${b64url(JSON.stringify(validClaims({ ws, role: "admin" })))}.${sig}`;
    await expect401(await listWith(`Bearer ${forged}`), "invalid_credentials");
    // The untampered member token is genuine, just not an admin.
    const res = await listWith(`Bearer ${member}`);
    expect(res.status).toBe(403);
  });

  it("tampered payload: exp pushed into the future", async () => {
    const expired = await signToken(validClaims({ iat: now() - 7200, exp: now() - 3600 }));
    const [head, , sig] = expired.split(".");
    const forged = `${head}.${b64url(JSON.stringify(validClaims({ iat: now() - 7200, exp: now() + 3600 })))}.${sig}`;
    await expect401(await listWith(`Bearer ${forged}`), "invalid_credentials");
  });

  it("tampered or truncated signature", async () => {
    const valid = await signToken(validClaims());
    const [head, payload, sig] = valid.split(".") as [string, string, string];
    const flipped = sig.slice(0, 5) + (sig[5] === "A" ? "B" : "A") + sig.slice(6);
    await expect401(await listWith(`Bearer ${head}.${payload}.${flipped}`), "invalid_credentials");
    await expect401(await listWith(`Bearer ${head}.${payload}.${sig.slice(0, 20)}`), "invalid_credentials");
    await expect401(await listWith(`Bearer ${head}.${payload}.`), "invalid_credentials");
  });

  it("an expired token with a bad signature is invalid, not expired", async () => {
    const token = await signToken(validClaims({ iat: now() - 7200, exp: now() - 3600 }), { secret: "wrong-secret" });
    await expect401(await listWith(`Bearer ${token}`), "invalid_credentials");
  });

  it.each(["sub", "ws", "role", "exp", "iat"])("missing claim %s", async (claim) => {
    const claims: Record<string, unknown> = validClaims();
    delete claims[claim];
    const token = await signToken(claims);
    await expect401(await listWith(`Bearer ${token}`), "invalid_credentials");
  });

  it.each([
    ["sub empty", { sub: "" }],
    ["sub a number", { sub: 42 }],
    ["ws empty", { ws: "" }],
    ["ws a number", { ws: 7 }],
    ["exp a string", { exp: String(now() + 3600) }],
    ["iat a string", { iat: String(now()) }],
    ["role null", { role: null }],
  ])("claim of the wrong type: %s", async (_label, over) => {
    const token = await signToken(validClaims(over));
    await expect401(await listWith(`Bearer ${token}`), "invalid_credentials");
  });

  it.each(["owner", "superadmin", "Admin", "ADMIN", "", "viewer"])("unknown role %j", async (role) => {
    const token = await signToken(validClaims({ role }));
    await expect401(await listWith(`Bearer ${token}`), "invalid_credentials");
  });

  it.each([
    ["a word", "garbage"],
    ["three dots", "..."],
    ["three junk parts", "a.b.c"],
    ["two parts", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0"],
    ["four parts", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln.ZXh0cmE"],
    ["base64 of non-JSON", `${b64url("not json")}.${b64url("not json")}.${b64url("sig")}`],
    ["header is a JSON array", `${b64url("[]")}.${b64url("{}")}.c2ln`],
    ["a UUID", crypto.randomUUID()],
    ["a long string", "x".repeat(5000)],
  ])("non-JWT garbage: %s", async (_label, token) => {
    await expect401(await listWith(`Bearer ${token}`), "invalid_credentials");
  });

  it("a valid token followed by extra junk", async () => {
    const token = await signToken(validClaims());
    await expect401(await listWith(`Bearer ${token}x`), "invalid_credentials");
  });

  it("a well-formed API key is not a session: 401 on every key route", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    const created = await createKey(admin);
    // The key itself works where keys belong...
    expect((await call("GET", "/v1/key", { token: created.key })).status).toBe(200);
    // ...but not as a console session.
    const routes: [string, string, unknown?][] = [
      ["GET", "/v1/api-keys"],
      ["GET", "/v1/api-keys?status=revoked"],
      ["POST", "/v1/api-keys", { name: "from a key", scopes: ["sources:read"] }],
      ["GET", `/v1/api-keys/${created.id}`],
      ["POST", `/v1/api-keys/${created.id}/revoke`],
    ];
    for (const [method, path, body] of routes) {
      const res = await call(method, path, { token: created.key, body });
      await expect401(res, "invalid_credentials");
    }
    // The key was neither revoked nor used to create another one.
    const list = (await (await call("GET", "/v1/api-keys", { token: admin })).json()) as {
      data: { id: string; revokedAt: string | null }[];
    };
    expect(list.data.map((k) => k.id)).toEqual([created.id]);
    expect(list.data[0]!.revokedAt).toBeNull();
  });

  it("a session token is not an API key: /v1/sources and /v1/key answer 401 invalid_credentials", async () => {
    const admin = await session(freshWs());
    for (const [method, path, body] of [
      ["GET", "/v1/sources"],
      ["POST", "/v1/sources", { type: "text", name: "n", content: "c" }],
      ["GET", "/v1/sources/src_x"],
      ["PATCH", "/v1/sources/src_x", { name: "n" }],
      ["DELETE", "/v1/sources/src_x"],
      ["GET", "/v1/key"],
    ] as [string, string, unknown?][]) {
      const res = await call(method, path, { token: admin, body });
      await expect401(res, "invalid_credentials");
    }
  });
});

describe("expired sessions -> 401 expired_credentials", () => {
  it("exp in the past", async () => {
    const token = await signToken(validClaims({ iat: now() - 7200, exp: now() - 60 }));
    const body = await expect401(await listWith(`Bearer ${token}`), "expired_credentials");
    expect(body.detail.length).toBeGreaterThan(0);
  });

  it("exp exactly now is already expired", async () => {
    const t = now();
    const token = await signToken(validClaims({ iat: t - 60, exp: t }));
    await expect401(await listWith(`Bearer ${token}`), "expired_credentials");
  });

  it("an expired member token is expired too (expiry before role)", async () => {
    const token = await signToken(validClaims({ role: "member", iat: now() - 7200, exp: now() - 1 }));
    await expect401(await listWith(`Bearer ${token}`), "expired_credentials");
  });

  it("an expired token can create nothing", async () => {
    const ws = freshWs();
    const token = await signToken(validClaims({ ws, iat: now() - 7200, exp: now() - 1 }));
    const res = await call("POST", "/v1/api-keys", {
      headers: { Authorization: `Bearer ${token}` },
      body: { name: "late", scopes: ["sources:read"] },
    });
    await expect401(res, "expired_credentials");
    const list = await call("GET", "/v1/api-keys", { token: await session(ws) });
    expect(await list.json()).toEqual({ data: [], nextCursor: null });
  });
});

describe("member sessions -> 403 forbidden on every key route", () => {
  it("is refused everywhere and changes nothing", async () => {
    const ws = freshWs();
    const admin = await session(ws, "admin", "usr_admin");
    const member = await session(ws, "member", "usr_member");
    const existing = await createKey(admin, { name: "existing" });

    const routes: [string, string, unknown?][] = [
      ["GET", "/v1/api-keys"],
      ["GET", "/v1/api-keys?status=active"],
      ["GET", "/v1/api-keys?status=revoked"],
      ["POST", "/v1/api-keys", { name: "member's key", scopes: ["sources:read"] }],
      ["GET", `/v1/api-keys/${existing.id}`],
      ["POST", `/v1/api-keys/${existing.id}/revoke`],
      ["GET", "/v1/api-keys/key_doesnotexist"],
      ["POST", "/v1/api-keys/key_doesnotexist/revoke"],
    ];
    for (const [method, path, body] of routes) {
      const res = await call(method, path, { token: member, body });
      expect(res.status, `${method} ${path}`).toBe(403);
      const p = await problem(res);
      expect(p.code).toBe("forbidden");
      expect(p.status).toBe(403);
    }

    // Nothing was created and nothing was revoked.
    const list = (await (await call("GET", "/v1/api-keys", { token: admin })).json()) as { data: { id: string }[] };
    expect(list.data.map((k) => k.id)).toEqual([existing.id]);
    const record = (await (await call("GET", `/v1/api-keys/${existing.id}`, { token: admin })).json()) as Record<string, unknown>;
    expect(record.revokedAt).toBeNull();
    expect(record.revokedBy).toBeNull();
    expect((await call("GET", "/v1/key", { token: existing.key })).status).toBe(200);
  });

  it("a member's 403 never leaks a key, a hash or any record", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    const existing = await createKey(admin);
    const member = await session(ws, "member");
    for (const path of ["/v1/api-keys", `/v1/api-keys/${existing.id}`]) {
      const text = await (await call("GET", path, { token: member })).text();
      expect(text).not.toContain(existing.id);
      expect(text).not.toContain(existing.prefix);
      expect(text).not.toContain(existing.key);
    }
  });
});

/** Sends the request to the current isolate's app built with these vars. */
const withVars = (vars: Partial<Env>, method: string, path: string, init: RequestInit = {}) =>
  isolate().fetch(buildRequest(method, path, init), vars);

describe("session lifetime", () => {
  it("a token claiming more than 24 hours (exp - iat) is 401 invalid_credentials, though signed and unexpired", async () => {
    const t = now();
    await expect401(await listWith(`Bearer ${await signToken(validClaims({ iat: t, exp: t + 24 * 3600 + 1 }))}`), "invalid_credentials");
    await expect401(
      await listWith(`Bearer ${await signToken(validClaims({ iat: t - 3600, exp: t + 30 * 86_400 }))}`),
      "invalid_credentials",
    );
  });

  it("exactly 24 hours is accepted", async () => {
    const t = now();
    expect((await listWith(`Bearer ${await signToken(validClaims({ iat: t, exp: t + 24 * 3600 }))}`)).status).toBe(200);
  });
});

describe("SESSION_ISSUER and SESSION_AUDIENCE", () => {
  const iss = "https://login.owlish.test";
  const aud = "owlish-keys";
  const both = { SESSION_ISSUER: iss, SESSION_AUDIENCE: aud };
  const listAs = async (vars: Partial<Env>, claims: Record<string, unknown>) =>
    withVars(vars, "GET", "/v1/api-keys", { token: await signToken(validClaims(claims)) });

  it.each([
    ["neither iss nor aud", {}],
    ["another issuer", { iss: "https://login.elsewhere.test", aud }],
    ["the issuer in another case", { iss: iss.toUpperCase(), aud }],
    ["no aud", { iss }],
    ["another audience", { iss, aud: "another-service" }],
    ["an audience list without ours", { iss, aud: ["another-service", "a-third"] }],
    ["an empty audience list", { iss, aud: [] }],
  ])("refuse a token with %s: 401 invalid_credentials", async (_label, claims) => {
    await expect401(await listAs(both, claims), "invalid_credentials");
  });

  it("accept a token whose iss matches and whose aud is ours, as a string or within a list", async () => {
    expect((await listAs(both, { iss, aud })).status).toBe(200);
    expect((await listAs(both, { iss, aud: ["another-service", aud] })).status).toBe(200);
  });

  it("check only what is configured", async () => {
    expect((await listAs({ SESSION_ISSUER: iss }, { iss })).status).toBe(200);
    await expect401(await listAs({ SESSION_ISSUER: iss }, { aud }), "invalid_credentials");
    expect((await listAs({ SESSION_AUDIENCE: aud }, { aud })).status).toBe(200);
    await expect401(await listAs({ SESSION_AUDIENCE: aud }, { iss }), "invalid_credentials");
    // Unset: iss and aud are not looked at.
    expect((await listAs({}, { iss: "anyone", aud: "anything" })).status).toBe(200);
  });
});

describe("a SESSION_SECRET too short to be safe", () => {
  const SESSION_ROUTES: [string, string, unknown?][] = [
    ["GET", "/v1/api-keys"],
    ["POST", "/v1/api-keys", { name: "x", scopes: ["sources:read"] }],
    ["GET", "/v1/api-keys/key_x"],
    ["POST", "/v1/api-keys/key_x/revoke"],
    ["GET", "/v1/audit-events"],
  ];

  it("is never used: every session route answers 503 unavailable, even to a token it signed; one log line per build", async () => {
    const logs = captureConsole();
    onTestFinished(logs.restore);
    const k = await createKey(await session(freshWs()));
    const short = { SESSION_SECRET: "short" };
    const token = await signToken(validClaims(), { secret: "short" });
    const here = new Isolate();
    for (let round = 0; round < 2; round++) {
      for (const [method, path, body] of SESSION_ROUTES) {
        const res = await here.fetch(buildRequest(method, path, { token, body }), short);
        expect(res.status, `${method} ${path}`).toBe(503);
        expect((await problem(res)).code).toBe("unavailable");
      }
    }
    // API keys do not depend on it.
    expect((await here.fetch(buildRequest("GET", "/v1/key", { token: k.key }), short)).status).toBe(200);
    // Said once, when the app was built, not per request; never the secret itself.
    const unusable = logs.events().filter((e) => e.event === "session_secret_unusable");
    expect(unusable).toHaveLength(1);
    expect(unusable[0]).toMatchObject({ level: "error" });
    // Another build (another isolate) says it again.
    new Isolate().app(short);
    expect(logs.events().filter((e) => e.event === "session_secret_unusable")).toHaveLength(2);
    expect(logs.lines.join("\n")).not.toContain(token);
  });

  it("is measured in bytes: 31 bytes are refused, 32 (here 16 two-byte characters) accepted", async () => {
    const logs = captureConsole();
    onTestFinished(logs.restore);
    const short = "s".repeat(31);
    const res = await withVars({ SESSION_SECRET: short }, "GET", "/v1/api-keys", {
      token: await signToken(validClaims(), { secret: short }),
    });
    expect((await problem(res)).code).toBe("unavailable");
    const enough = "é".repeat(16);
    expect(new TextEncoder().encode(enough)).toHaveLength(32);
    const ok = await withVars({ SESSION_SECRET: enough }, "GET", "/v1/api-keys", {
      token: await signToken(validClaims(), { secret: enough }),
    });
    expect(ok.status).toBe(200);
  });
});
