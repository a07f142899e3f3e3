import { beforeEach, describe, expect, it, onTestFinished } from "vitest";
import type { Json } from "../../src/docs/examples";
import type { Env } from "../../src/env";
import { generateKey } from "../../src/keys/format/key";
import { SCOPES } from "../../src/keys/scopes";
import { OPERATIONS } from "../../src/routes";
import type { AuthKind } from "../../src/routes/operation";
import { githubSigner } from "../support/github-signing";
import { captureConsole, freezeClock, SECRET, signToken } from "../support/helpers";
import { isolate } from "../support/isolate";
import {
  documented,
  freshWorkspace,
  githubSigning,
  type ListedOperation,
  label,
  openApiDocument,
  type Prepared,
  prepare,
  requestOf,
  seededKey,
  successSchema,
  successStatus,
  suiteEnv,
  type Workspace,
} from "../support/operations";

/**
 * The auth matrix: every operation of the route list × every kind of caller
 * its auth kind can meet → the status and code the contract gives that
 * caller, documented for that operation in the OpenAPI document. Rows are
 * per auth kind (a new kind does not compile until it has its rows); each
 * row runs on every listed operation of that kind, so a new route is in the
 * matrix the moment it is listed. Secret scanning authenticates by GitHub's
 * signature: its rows are about signatures.
 */

/** `success`: the operation's documented 2xx; `{status, code}`: that problem. */
type Outcome = "success" | { status: number; code: string };

interface Call {
  op: ListedOperation;
  /** The operation's own workspace, its resources, and its keys of every kind. */
  a: Workspace;
  /** Another workspace, with its own admin and key. */
  b: Workspace;
  doc: Json;
}

interface Row {
  who: string;
  /** Only for the operations it applies to. */
  applies?: (op: ListedOperation) => boolean;
  /** The request as this caller sends it, and the env it is answered in. */
  send: (c: Call) => Promise<{ request: Request; env?: Partial<Env> }>;
  expect: (op: ListedOperation) => Outcome;
}

const refused = (status: number, code: string) => () => ({ status, code });
/** Another workspace's id is answered like a missing one; an operation without one acts in the caller's own workspace. */
const theirs = (op: ListedOperation): Outcome => (op.path.includes("{") ? { status: 404, code: "not_found" } : "success");
const OUTSIDE = "198.51.100.77";
/** A failed-auth limiter that has had enough of every client. */
const throttled: Partial<Env> = { AUTH_FAILURES: { limit: async () => ({ success: false }) } as unknown as Env["AUTH_FAILURES"] };

/** The operation's valid request in `a`, on resources no other row touches, sent by `authorization`. */
async function withBearer(c: Call, authorization: string | undefined, headers: Record<string, string> = {}) {
  const p = await prepare(c.doc, c.op, c.a);
  return requestOf(p, { Authorization: authorization, ...headers });
}

const now = () => Math.floor(Date.now() / 1000);
const mistyped = (key: string) => key.slice(0, -1) + (key.endsWith("A") ? "B" : "A");

const BEARER_COMMON: Row[] = [
  {
    who: "no Authorization header",
    send: async (c) => ({ request: await withBearer(c, undefined) }),
    expect: refused(401, "missing_credentials"),
  },
  {
    who: "a scheme other than Bearer",
    send: async (c) => ({ request: await withBearer(c, "Basic dXNlcjpwYXNz") }),
    expect: refused(401, "missing_credentials"),
  },
  {
    who: "Bearer with nothing after it",
    send: async (c) => ({ request: await withBearer(c, "Bearer ") }),
    expect: refused(401, "missing_credentials"),
  },
];

const MATRIX: Record<AuthKind, Row[]> = {
  admin: [
    ...BEARER_COMMON,
    {
      who: "a token that is no JWT",
      send: async (c) => ({ request: await withBearer(c, "Bearer not.a.jwt") }),
      expect: refused(401, "invalid_credentials"),
    },
    {
      who: "a session signed with another secret",
      send: async (c) => {
        const forged = await signToken(
          { sub: "usr_x", ws: c.a.ws, role: "admin", iat: now(), exp: now() + 600 },
          { secret: `${SECRET}-not` },
        );
        return { request: await withBearer(c, `Bearer ${forged}`) };
      },
      expect: refused(401, "invalid_credentials"),
    },
    {
      who: "a session with alg none",
      send: async (c) => {
        const none = await signToken({ sub: "usr_x", ws: c.a.ws, role: "admin", iat: now(), exp: now() + 600 }, { alg: "none" });
        return { request: await withBearer(c, `Bearer ${none}`) };
      },
      expect: refused(401, "invalid_credentials"),
    },
    {
      who: "an expired session",
      send: async (c) => {
        const expired = await signToken({ sub: "usr_x", ws: c.a.ws, role: "admin", iat: now() - 7200, exp: now() - 3600 });
        return { request: await withBearer(c, `Bearer ${expired}`) };
      },
      expect: refused(401, "expired_credentials"),
    },
    {
      who: "an API key",
      send: async (c) => ({ request: await withBearer(c, `Bearer ${c.a.key}`) }),
      expect: refused(401, "invalid_credentials"),
    },
    {
      who: "a member of the workspace",
      send: async (c) => ({ request: await withBearer(c, `Bearer ${c.a.member}`) }),
      expect: refused(403, "forbidden"),
    },
    { who: "another workspace's admin", send: async (c) => ({ request: await withBearer(c, `Bearer ${c.b.admin}`) }), expect: theirs },
    {
      who: "a refused session from a client over the failed-auth limit",
      send: async (c) => ({ request: await withBearer(c, "Bearer not.a.jwt", { "CF-Connecting-IP": OUTSIDE }), env: throttled }),
      expect: refused(429, "too_many_requests"),
    },
    {
      who: "the workspace's admin, from a client over the failed-auth limit",
      send: async (c) => ({ request: await withBearer(c, `Bearer ${c.a.admin}`, { "CF-Connecting-IP": OUTSIDE }), env: throttled }),
      expect: () => "success",
    },
    { who: "the workspace's admin", send: async (c) => ({ request: await withBearer(c, `Bearer ${c.a.admin}`) }), expect: () => "success" },
  ],

  key: [
    ...BEARER_COMMON,
    {
      who: "a malformed key",
      send: async (c) => ({ request: await withBearer(c, "Bearer sk_live_short") }),
      expect: refused(401, "invalid_credentials"),
    },
    {
      who: "a mistyped key (bad checksum)",
      send: async (c) => ({ request: await withBearer(c, `Bearer ${mistyped(c.a.key)}`) }),
      expect: refused(401, "invalid_credentials"),
    },
    {
      who: "a well-formed key that does not exist",
      send: async (c) => ({ request: await withBearer(c, `Bearer ${generateKey()}`) }),
      expect: refused(401, "invalid_credentials"),
    },
    {
      who: "an admin's session token",
      send: async (c) => ({ request: await withBearer(c, `Bearer ${c.a.admin}`) }),
      expect: refused(401, "invalid_credentials"),
    },
    {
      who: "a revoked key",
      send: async (c) => {
        const k = await seededKey(c.a, { revokedAt: Date.now() - 1000, revokedBy: "usr_admin", revocationReason: "admin" });
        return { request: await withBearer(c, `Bearer ${k.key}`) };
      },
      expect: refused(401, "revoked_api_key"),
    },
    {
      who: "an expired key",
      send: async (c) => ({ request: await withBearer(c, `Bearer ${(await seededKey(c.a, { expiresAt: Date.now() - 1000 })).key}`) }),
      expect: refused(401, "expired_credentials"),
    },
    {
      who: "a rolled key whose overlap ended",
      send: async (c) => {
        const k = await seededKey(c.a, { rolledTo: "key_successor", expiresAt: Date.now() - 1000 });
        return { request: await withBearer(c, `Bearer ${k.key}`) };
      },
      expect: refused(401, "expired_credentials"),
    },
    {
      who: "a key without the scope",
      applies: (op) => op.scope !== null,
      send: async (c) => {
        const k = await seededKey(c.a, { scopes: SCOPES.filter((s) => s !== c.op.scope) });
        return { request: await withBearer(c, `Bearer ${k.key}`) };
      },
      expect: refused(403, "insufficient_scope"),
    },
    {
      who: "a key used from outside its IP allowlist",
      send: async (c) => {
        const k = await seededKey(c.a, { ipAllowlist: ["203.0.113.0/24"] });
        return { request: await withBearer(c, `Bearer ${k.key}`, { "CF-Connecting-IP": OUTSIDE }) };
      },
      // Where the key's guard rails do not apply (self-revocation), the call goes through.
      expect: (op) => (op.guardRails ? refused(403, "ip_not_allowed")() : "success"),
    },
    {
      who: "a key over its rate limit",
      send: async (c) => {
        const k = await seededKey(c.a, { rateLimit: { limit: 1, periodSeconds: 3600 } });
        // The one call the limit allows (the clock stands still: no window ends in between).
        const first = await isolate().call("GET", "/v1/key", { token: k.key });
        expect(first.status, "the call within the limit").toBe(200);
        return { request: await withBearer(c, `Bearer ${k.key}`) };
      },
      expect: (op) => (op.guardRails ? refused(429, "rate_limited")() : "success"),
    },
    { who: "another workspace's key", send: async (c) => ({ request: await withBearer(c, `Bearer ${c.b.key}`) }), expect: theirs },
    {
      who: "a refused key from a client over the failed-auth limit",
      send: async (c) => ({ request: await withBearer(c, `Bearer ${generateKey()}`, { "CF-Connecting-IP": OUTSIDE }), env: throttled }),
      expect: refused(429, "too_many_requests"),
    },
    {
      who: "a valid key from a client over the failed-auth limit",
      send: async (c) => {
        const k = await seededKey(c.a);
        return { request: await withBearer(c, `Bearer ${k.key}`, { "CF-Connecting-IP": OUTSIDE }), env: throttled };
      },
      expect: () => "success",
    },
    {
      who: "a key used from inside its IP allowlist",
      send: async (c) => {
        const k = await seededKey(c.a, { ipAllowlist: ["203.0.113.0/24"] });
        return { request: await withBearer(c, `Bearer ${k.key}`, { "CF-Connecting-IP": "203.0.113.9" }) };
      },
      expect: () => "success",
    },
    {
      who: "a key of the workspace with the scope",
      send: async (c) => ({ request: await withBearer(c, `Bearer ${(await seededKey(c.a)).key}`) }),
      expect: () => "success",
    },
  ],

  none: [
    { who: "no credential", send: async (c) => ({ request: await withBearer(c, undefined) }), expect: () => "success" },
    {
      who: "a credential that is not valid",
      send: async (c) => ({ request: await withBearer(c, "Bearer junk") }),
      expect: () => "success",
    },
    {
      who: "a revoked key",
      send: async (c) => {
        const k = await seededKey(c.a, { revokedAt: Date.now() - 1000, revokedBy: "usr_admin", revocationReason: "admin" });
        return { request: await withBearer(c, `Bearer ${k.key}`) };
      },
      expect: () => "success",
    },
  ],

  github_signature: [
    {
      who: "no signature headers",
      send: async (c) => ({ request: await signedBy(c, UNSIGNED) }),
      expect: refused(401, "invalid_signature"),
    },
    {
      who: "an admin's session instead of a signature",
      send: async (c) => ({ request: await signedBy(c, { ...UNSIGNED, Authorization: `Bearer ${c.a.admin}` }) }),
      expect: refused(401, "invalid_signature"),
    },
    {
      who: "a valid API key instead of a signature",
      send: async (c) => ({ request: await signedBy(c, { ...UNSIGNED, Authorization: `Bearer ${c.a.key}` }) }),
      expect: refused(401, "invalid_signature"),
    },
    {
      who: "a signature of another body",
      send: async (c) => ({ request: await signedBy(c, await (await githubSigning()).signer.sign("[]")) }),
      expect: refused(401, "invalid_signature"),
    },
    {
      who: "a signature by a key GitHub did not publish, under its identifier",
      send: async (c) => {
        const p = await prepare(c.doc, c.op, c.a);
        const impostor = await githubSigner((await githubSigning()).signer.identifier);
        return { request: requestOf(p, await impostor.sign(p.body ?? "")) };
      },
      expect: refused(401, "invalid_signature"),
    },
    {
      who: "a key identifier GitHub does not publish",
      send: async (c) => ({ request: await signedBy(c, { "Github-Public-Key-Identifier": "0".repeat(64) }) }),
      expect: refused(401, "invalid_signature"),
    },
    {
      who: "a signature that is not base64 DER",
      send: async (c) => ({ request: await signedBy(c, { "Github-Public-Key-Signature": "not a signature" }) }),
      expect: refused(401, "invalid_signature"),
    },
    { who: "GitHub's signature of the body", send: async (c) => ({ request: await signedBy(c, {}) }), expect: () => "success" },
  ],
};

const UNSIGNED = { "Github-Public-Key-Identifier": undefined, "Github-Public-Key-Signature": undefined };

/** The operation's signed example report, with `headers` replacing the signed ones. */
async function signedBy(c: Call, headers: Record<string, string | undefined>) {
  const p: Prepared = await prepare(c.doc, c.op, c.a);
  return requestOf(p, headers);
}

/** The problem (or success) the document declares for this operation, or why it does not. */
function undocumented(doc: Json, op: ListedOperation, status: number, code: string | undefined): string | null {
  const response = documented(doc, op).responses?.[String(status)];
  if (!response) return `${status} is not documented`;
  if (code === undefined) return null;
  const examples = response.content?.["application/problem+json"]?.examples ?? {};
  return code in examples ? null : `${status} is documented without ${code}`;
}

// Refusals are logged (throttling, failed authentication): not what this file is about.
beforeEach(() => onTestFinished(captureConsole().restore));

describe("the auth matrix: every listed operation × every kind of caller", () => {
  it("has rows for every auth kind of the route list", () => {
    for (const op of OPERATIONS) expect(MATRIX[op.auth]?.length, label(op)).toBeGreaterThan(0);
  });

  for (const op of OPERATIONS) {
    it(`${label(op)}: each caller gets the contract's status and code, as documented`, async () => {
      // The clock stands still: a rate-limit window cannot end between two calls, an expiry is past for good.
      freezeClock();
      const doc = await openApiDocument();
      const c: Call = { op, a: await freshWorkspace("ws_matrix"), b: await freshWorkspace("ws_matrix_other"), doc };
      const env = await suiteEnv();
      const rows = MATRIX[op.auth].filter((row) => row.applies?.(op) ?? true);
      for (const row of rows) {
        const { request, env: overrides } = await row.send(c);
        const res = await isolate().fetch(request, { ...env, ...overrides });
        const text = await res.text();
        const outcome = row.expect(op);
        const where = `${label(op)}, ${row.who}: ${res.status} ${text.slice(0, 300)}`;
        if (outcome === "success") {
          const status = successStatus(doc, op);
          expect(res.status, where).toBe(status);
          const schema = successSchema(op, status);
          if (schema) expect(schema.safeParse(JSON.parse(text)).error, `${where}: the body matches its documented schema`).toBeUndefined();
          continue;
        }
        expect(res.status, where).toBe(outcome.status);
        expect(res.headers.get("Content-Type"), where).toBe("application/problem+json");
        const body = JSON.parse(text);
        expect(body.code, where).toBe(outcome.code);
        expect(body.requestId, where).toBe(res.headers.get("X-Request-Id"));
        expect(undocumented(doc, op, outcome.status, outcome.code), where).toBeNull();
        if (outcome.status === 401) {
          // RFC 6750: a bearer route challenges; GitHub's endpoint authenticates by signature and does not.
          if (op.auth === "github_signature") expect(res.headers.get("WWW-Authenticate"), where).toBeNull();
          else expect(res.headers.get("WWW-Authenticate"), where).toMatch(/^Bearer/);
        }
        if (outcome.code === "insufficient_scope") expect(body.requiredScope, where).toBe(op.scope);
        if (outcome.status === 429) expect(Number(res.headers.get("Retry-After")), where).toBeGreaterThan(0);
      }
    });
  }
});
