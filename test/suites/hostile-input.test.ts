import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { MAX_BODY_BYTES } from "../../src/app";
import { exampleOf, type Json, resolveRef } from "../../src/docs/examples";
import type { Env } from "../../src/env";
import worker from "../../src/index";
import { OPERATIONS } from "../../src/routes";
import { createSource } from "../support/helpers";
import {
  documented,
  exampleRequest,
  freshParams,
  freshWorkspace,
  githubSigning,
  type ListedOperation,
  label,
  openApiDocument,
  seededKey,
  successSchema,
  suiteEnv,
} from "../support/operations";

/**
 * Hostile input at volume: property-based tests over the Authorization
 * header, JSON bodies, query strings and path ids of every operation of the
 * route list (src/routes/index.ts), called in-process through the worker's
 * own fetch handler. Nothing here lists routes: each property draws the
 * operations it applies to from the list (those with a body, a query, a path
 * id) and builds their requests from the OpenAPI document, so a new route is
 * fuzzed the moment it is listed. Whatever arrives: never a 5xx, every error
 * is problem+json with its requestId and documented for that operation, a
 * success matches its documented schema, and no body ever carries a stack
 * trace or an internal message.
 */

const MIN_TOTAL_REQUESTS = 10_000;
const RUNS = { authorization: 3_000, bodies: 3_000, queries: 2_000, pathIds: 2_100 };
// Each property sends thousands of requests: on a loaded 2-core machine that is minutes, far past the 30 s
// default. Like every timeout here it only catches a hang; nothing asserts how long a run took.
const TIMEOUT = 240_000;

/** What must never appear in a response body: stack frames, runtime errors, storage internals. */
const INTERNALS =
  /\bat (?:async )?[\w$.<>]+ \(|\.(?:ts|js|mjs):\d+|SQLITE|D1_ERROR|drizzle|TypeError|ReferenceError|RangeError|SyntaxError|Unexpected token|is not a function|Cannot read prop|undefined is not|internal_error|\bstack\b/i;

let sent = 0;
/** Statuses seen by the running property: each asserts it reached its success and its refusal paths. */
let statuses = new Map<number, number>();
beforeEach(() => {
  statuses = new Map();
});
const reached = () => [...statuses.keys()].sort();

/**
 * Each operation gets a workspace of its own (keys, sources, sessions), so
 * that what one operation's fuzzing changes (a key revoked, rolled or
 * restricted, a source deleted, the calling key revoking itself) never
 * changes what another operation's fuzzing meets.
 */
interface Fixture {
  ws: string;
  admin: string;
  member: string;
  /** A key with every scope, and its id. */
  key: string;
  keyId: string;
  /** A key with sources:read only. */
  readOnlyKey: string;
  sourceId: string;
  /** The operation's path parameters, on this fixture's resources. */
  params: Record<string, string>;
}
const fixtures = new Map<string, Fixture>();
const fx = (op: ListedOperation) => fixtures.get(op.operationId)!;

/** Shared: a revoked key, and per operation another workspace's resources for its path parameters. */
let revokedKey: string;
const theirs = new Map<string, Record<string, string>>();
/** Another workspace's resource for the first path parameter of `op` (the one the path-id property fuzzes). */
const theirFirst = (op: ListedOperation) => Object.values(theirs.get(op.operationId) ?? {})[0];
let doc: Json;
/** The env of every request: the test env, with GitHub's secret scanning key published. One object, so the worker builds once. */
let ENV: Env;

beforeAll(async () => {
  doc = await openApiDocument();
  ENV = { ...env, ...(await suiteEnv()) } as Env;
  for (const op of OPERATIONS) {
    const w = await freshWorkspace("ws_fuzz");
    const full = await seededKey(w);
    const readOnly = await seededKey(w, { scopes: ["sources:read"] });
    const source = await createSource(w.key, { type: "text", name: "fixture", content: "hello" });
    const params = await freshParams(op, w);
    fixtures.set(op.operationId, { ...w, key: full.key, keyId: full.id, readOnlyKey: readOnly.key, sourceId: source.id, params });
  }
  const w = await freshWorkspace("ws_fuzz_other");
  revokedKey = (await seededKey(w, { revokedAt: Date.now(), revokedBy: "usr_fuzz", revocationReason: "admin" })).key;
  for (const op of OPERATIONS) theirs.set(op.operationId, await freshParams(op, w));
});

// The worker's log line per request is not what this file is about; keep the output readable.
beforeEach(() => {
  vi.spyOn(console, "log").mockImplementation(() => {});
  vi.spyOn(console, "warn").mockImplementation(() => {});
});

/** Properties that ran to the end; with all four run (no -t filter), the total is checked. */
let propertiesDone = 0;
afterAll(() => {
  // At least 10 000 generated requests in total: the volume docs/testing.md states for this file.
  if (propertiesDone === 4) expect(sent).toBeGreaterThanOrEqual(MIN_TOTAL_REQUESTS);
});

interface Sent {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | ReadableStream<Uint8Array>;
  /** The operation the request is for: its problems must be documented for it. */
  op?: ListedOperation;
  /** The path was fuzzed: a 404 or 405 may be the router's (no route matched), not the operation's. */
  fuzzedPath?: boolean;
}

/** The problem (status and code) is one the operation documents, or why not. */
function undocumented(op: ListedOperation, status: number, code: unknown): string | null {
  const response = documented(doc, op).responses?.[String(status)];
  if (!response) return `${status} is not documented for ${label(op)}`;
  const examples = response.content?.["application/problem+json"]?.examples ?? {};
  return typeof code === "string" && code in examples ? null : `${status} is documented for ${label(op)} without ${code}`;
}

/** One request through the worker's fetch handler, checked against the invariants every response must keep. */
async function send(req: Sent): Promise<{ status: number; json: Record<string, unknown> | null; res: Response }> {
  sent++;
  const label_ = `${req.method} ${req.path.slice(0, 200)}`;
  const request = new Request(`https://owlish.test${req.path}`, {
    method: req.method,
    headers: req.headers,
    body: req.body,
    ...(req.body instanceof ReadableStream ? { duplex: "half" } : {}),
  } as RequestInit);
  const res = await worker.fetch(request as Parameters<typeof worker.fetch>[0], ENV, createExecutionContext());
  const text = await res.text();
  statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
  const where = `${label_} -> ${res.status}: ${text.slice(0, 300)}`;
  expect(res.status, where).toBeLessThan(500);
  expect(res.headers.get("X-Request-Id"), where).toBeTruthy();
  expect(res.headers.get("X-Content-Type-Options"), where).toBe("nosniff");
  let json: Record<string, unknown> | null = null;
  if (res.status >= 400) {
    // (Success bodies may echo what clients stored, such as a source named "TypeError".)
    expect(INTERNALS.test(text), `internal detail in ${where}`).toBe(false);
    expect(res.headers.get("Content-Type"), where).toBe("application/problem+json");
    json = JSON.parse(text);
    expect(json, where).toMatchObject({
      type: `https://owlish.test/docs#error-${json!.code}`,
      title: expect.any(String),
      status: res.status,
      detail: expect.any(String),
      code: expect.any(String),
      requestId: res.headers.get("X-Request-Id"),
    });
    if (res.status === 401 && req.op?.auth !== "github_signature") expect(res.headers.get("WWW-Authenticate"), where).toMatch(/^Bearer/);
    const routed = !(req.fuzzedPath && [404, 405].includes(res.status));
    if (req.op && routed) expect(undocumented(req.op, res.status, json!.code), where).toBeNull();
  } else if (res.status !== 204 && text !== "" && res.headers.get("Content-Type")?.includes("json")) {
    json = JSON.parse(text);
    const schema = req.op && successSchema(req.op, res.status);
    if (schema) expect(schema.safeParse(json).error, `${where}: the body matches its documented schema`).toBeUndefined();
  }
  return { status: res.status, json, res };
}

/** The operation's documented request on its fixture (or on `params`), as text: what the properties start from. */
function requestOf(op: ListedOperation, params: Record<string, string> = fx(op).params) {
  const { method, path, body } = exampleRequest(doc, op, params);
  return { method, path, body: body === undefined ? undefined : JSON.stringify(body) };
}

/** The headers that authenticate `body` for `op` with its fixture's credential (a key, a session, or GitHub's signature). */
async function authenticated(op: ListedOperation, body: string | undefined, key = fx(op).key): Promise<Record<string, string>> {
  switch (op.auth) {
    case "admin":
      return { Authorization: `Bearer ${fx(op).admin}` };
    case "key":
      return { Authorization: `Bearer ${key}` };
    case "github_signature":
      return (await githubSigning()).signer.sign(body ?? "");
    case "none":
      return {};
  }
}

/**
 * One of `ops`, drawn by its operationId (what a counterexample shows), and
 * what `then` makes for it: `[operationId, ...]`; `operation(id)` gives it back.
 */
const operationAnd = <T extends unknown[]>(ops: readonly ListedOperation[], then: (op: ListedOperation) => fc.Arbitrary<T>) => {
  // Each operation's arbitrary is built once (building one compiles its generators), then drawn from.
  const built = new Map<string, fc.Arbitrary<readonly [string, ...T]>>();
  const of = (id: string) => {
    let arbitrary = built.get(id);
    if (!arbitrary) built.set(id, (arbitrary = then(operation(id)).map((rest) => [id, ...rest] as const)));
    return arbitrary;
  };
  return fc.constantFrom(...ops.map((op) => op.operationId)).chain(of);
};
const operation = (id: string) => OPERATIONS.find((op) => op.operationId === id)!;

// ---------------------------------------------------------------------------
// Generators

const charsIn = (from: number, to: number) => fc.integer({ min: from, max: to }).map((c) => String.fromCharCode(c));
/** Visible ASCII and spaces: what a header value may hold. */
const headerText = (maxLength = 80) => fc.string({ unit: fc.oneof(charsIn(0x20, 0x7e), fc.constant("\t")), maxLength });
const base62 = (min: number, max: number) =>
  fc.string({ unit: fc.constantFrom(..."0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"), minLength: min, maxLength: max });
const b64url = (s: string) => btoa(s).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
const anyString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  headerText(40),
);

/** A credential-shaped token for `f`'s operation: mutated keys, key-like strings, JWT-like strings, junk. */
const token = (f: Fixture) =>
  fc.oneof(
    { arbitrary: base62(0, 60).map((s) => `sk_live_${s}`), weight: 3 },
    { arbitrary: fc.stringMatching(/^sk_live_[0-9A-Za-z]{38}$/), weight: 3 },
    {
      // One character of a real key changed, dropped or added.
      arbitrary: fc.tuple(fc.nat(45), fc.constantFrom(..."0Aaz9_-"), fc.constantFrom("swap", "drop", "add")).map(([i, c, op]) => {
        const k = f.key;
        const mutated =
          op === "swap"
            ? k.slice(0, i) + c + k.slice(i + 1)
            : op === "drop"
              ? k.slice(0, i) + k.slice(i + 1)
              : k.slice(0, i) + c + k.slice(i);
        return mutated;
      }),
      weight: 3,
    },
    {
      // JWT-shaped: random parts, or the admin token with a part replaced.
      arbitrary: fc
        .tuple(fc.jsonValue({ maxDepth: 2 }), fc.jsonValue({ maxDepth: 2 }), base62(0, 43), fc.nat(2))
        .map(([h, p, sig, which]) => {
          const parts = f.admin.split(".");
          parts[which] = which === 2 ? sig : b64url(unescape(encodeURIComponent(JSON.stringify(h ?? p))));
          return parts.join(".");
        }),
      weight: 3,
    },
    { arbitrary: fc.constantFrom(revokedKey, f.key.toLowerCase(), f.key.toUpperCase(), `${f.admin}.`), weight: 1 },
    { arbitrary: headerText(120).filter((s) => !/\s/.test(s)), weight: 2 },
  );

const authorization = (f: Fixture) =>
  fc.oneof(
    { arbitrary: token(f).map((t) => `Bearer ${t}`), weight: 6 },
    {
      arbitrary: fc
        .tuple(
          fc.constantFrom("Bearer", "bearer", "BEARER", "BeArEr", "Basic", "Token", "Bearer:", "Bearerx", ""),
          fc.constantFrom(" ", "  ", "\t", "", " \t "),
          token(f),
          fc.constantFrom("", " ", " extra", "\t"),
        )
        .map(([scheme, gap, t, tail]) => `${scheme}${gap}${t}${tail}`),
      weight: 3,
    },
    { arbitrary: headerText(200), weight: 2 },
    // Valid credentials too, so that success paths are walked with everything else fuzzed.
    {
      arbitrary: fc.constantFrom(
        `Bearer ${f.key}`,
        `bearer   ${f.key}`,
        `Bearer ${f.admin}`,
        `Bearer ${f.member}`,
        `Bearer ${f.readOnlyKey}`,
      ),
      weight: 1,
    },
  );

/** The exact credential a header presents, by the service's own rule (RFC 6750 Bearer, scheme case-insensitive). */
const presented = (header: string) => header.trim().match(/^bearer\s+(\S+)$/i)?.[1];

const fuzzConfig = (numRuns: number) => ({ numRuns, endOnFailure: true });

// ---------------------------------------------------------------------------

describe("the Authorization header", () => {
  it(
    `never authenticates anything but a real credential, and never answers 5xx, on every listed operation (${RUNS.authorization} cases)`,
    async () => {
      await fc.assert(
        fc.asyncProperty(
          operationAnd(OPERATIONS, (op) =>
            fc.tuple(
              authorization(fx(op)),
              fc.option(fc.oneof(fc.ipV4(), fc.ipV6(), headerText(80)), { freq: 2 }),
              // The fixture's own resources, or the documented example ids (which exist nowhere).
              fc.boolean(),
            ),
          ),
          async ([id, header, ip, realIds]) => {
            const op = operation(id);
            const f = fx(op);
            const { method, path, body } = requestOf(op, realIds ? f.params : {});
            const headers: Record<string, string> = { Authorization: header };
            if (ip !== null) headers["CF-Connecting-IP"] = ip;
            if (body !== undefined) headers["Content-Type"] = "application/json";
            const { status, json } = await send({ method, path, headers, body, op });
            if (op.auth === "none") {
              expect(status).toBe(200);
              return;
            }
            if (op.auth === "github_signature") {
              // Signed by GitHub or nothing: no bearer credential, however good, stands in for the signature.
              expect([status, json?.code]).toEqual([401, "invalid_signature"]);
              return;
            }
            const credential = presented(header);
            const valid = op.auth === "key" ? [f.key, f.readOnlyKey] : [f.admin, f.member];
            if (credential === undefined) {
              expect(json?.code).toBe("missing_credentials");
            } else if (!valid.includes(credential)) {
              // Anything else, however close to a real credential, is refused.
              expect([401, 429], `${header} on ${label(op)}`).toContain(status);
            }
          },
        ),
        fuzzConfig(RUNS.authorization),
      );
      expect(reached()).toEqual(expect.arrayContaining([200, 201, 401, 403, 404]));
      propertiesDone++;
    },
    TIMEOUT,
  );
});

describe("JSON bodies", () => {
  const scopeLike = fc.oneof(
    fc.constantFrom("sources:read", "sources:write", "sources:delete", "sources:*", "admin", "SOURCES:READ", "sources:read "),
    anyString,
  );
  const dateLike = fc.oneof(
    fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
    fc.constantFrom(
      "2999-01-01T00:00:00Z",
      "2000-01-01T00:00:00Z",
      "2999-02-30T00:00:00Z",
      "tomorrow",
      "",
      "2999-01-01",
      "+275760-09-13T00:00:00.000Z",
    ),
    fc.integer(),
    anyString,
  );
  const urlLike = fc.oneof(
    fc.webUrl(),
    fc.constantFrom(
      "javascript:alert(1)",
      "ftp://example.com",
      "http://",
      "https://localhost",
      "http://[::1]/",
      "https://exa mple.com",
      "data:text/html,x",
      `https://example.com/${"a".repeat(3000)}`,
    ),
    anyString,
  );
  /** A field's value: mostly what it should be like, else anything JSON can hold. */
  const value = (inner: fc.Arbitrary<unknown>) =>
    fc.oneof(
      { arbitrary: inner, weight: 4 },
      fc.constant(null),
      fc.integer(),
      fc.boolean(),
      fc.array(anyString, { maxLength: 3 }),
      fc.jsonValue({ maxDepth: 2 }),
    );

  /** Sharper values for the fields we know by name; any other documented field gets values made from its schema. */
  const byName = (f: Fixture): Record<string, fc.Arbitrary<unknown>> => ({
    name: fc.oneof(anyString, fc.constantFrom("  ", "x".repeat(100), "x".repeat(101), "x".repeat(200), "x".repeat(201), "ok name")),
    scopes: fc.array(scopeLike, { maxLength: 5 }),
    expiresAt: dateLike,
    url: urlLike,
    content: fc.oneof(anyString, fc.constantFrom("y".repeat(100_000), "y".repeat(100_001))),
    type: fc.constantFrom("url", "text", "URL", "pdf", "", "owlish_api_key"),
    // A reported token: one of ours (the report revokes it), a well-formed stranger, or anything.
    token: fc.oneof(fc.constantFrom(f.key, f.readOnlyKey, revokedKey), token(f), anyString),
    ipAllowlist: fc.array(fc.oneof(fc.ipV4(), fc.ipV6(), fc.constantFrom("10.0.0.0/8", "::/0", "0.0.0.0/0", "1.2.3.4/33"), anyString), {
      maxLength: 22,
    }),
  });
  /** Fields a client may never set: sent to see them ignored or refused, never taken. */
  const serverOwned = (f: Fixture) =>
    fc.record(
      {
        id: anyString,
        workspaceId: anyString,
        key: token(f),
        createdBy: anyString,
        createdAt: dateLike,
        revokedAt: dateLike,
        revokedBy: anyString,
        keyHash: fc.stringMatching(/^[0-9a-f]{64}$/),
      },
      { requiredKeys: [] },
    );

  /** Values for a field from its documented schema: its example, its bounds and just past them, its enum, its nested fields. */
  function fromSchema(f: Fixture, schema: Json | undefined, depth = 0): fc.Arbitrary<unknown> {
    const s = resolveRef(doc, schema) ?? {};
    const options: fc.Arbitrary<unknown>[] = [fc.constant(exampleOf(doc, s))];
    const variants: Json[] = s.anyOf ?? s.oneOf ?? [];
    for (const v of variants) if (v.type !== "null") options.push(fromSchema(f, v, depth + 1));
    if (s.properties && depth < 4) options.push(objectOf(f, s, depth + 1));
    if (s.items && depth < 4) options.push(fc.array(fromSchema(f, s.items, depth + 1), { maxLength: (s.maxItems ?? 3) + 1 }));
    if (Array.isArray(s.enum)) options.push(fc.constantFrom(...s.enum, ...s.enum.map((e: unknown) => String(e).toUpperCase())));
    const bounds = [s.minimum, s.maximum].filter((n): n is number => typeof n === "number");
    if (bounds.length) options.push(fc.constantFrom(...bounds.flatMap((n) => [n - 1, n, n + 1, n + 0.5])), fc.integer());
    if (typeof s.maxLength === "number") options.push(fc.constantFrom("", "x".repeat(s.maxLength), "x".repeat(s.maxLength + 1)));
    return fc.oneof(...options);
  }
  function objectOf(f: Fixture, s: Json, depth: number): fc.Arbitrary<Record<string, unknown>> {
    const named = byName(f);
    const fields = Object.fromEntries(
      Object.entries<Json>(s.properties ?? {}).map(([name, p]) => [name, value(named[name] ?? fromSchema(f, p, depth))]),
    );
    return fc.record(fields, { requiredKeys: [] });
  }
  /**
   * A near-valid body for `op`, made from its documented request schema (each
   * variant of a union), with server-owned fields added in half of them; and
   * now and then the documented example itself, so that success paths are walked too.
   */
  function bodyFor(op: ListedOperation): fc.Arbitrary<unknown> {
    const f = fx(op);
    const schema = resolveRef(doc, documented(doc, op).requestBody?.content?.["application/json"]?.schema) ?? {};
    const example = fc.constant(exampleOf(doc, schema));
    if (schema.type === "array") {
      return fc.oneof(example, fc.array(objectOf(f, resolveRef(doc, schema.items) ?? {}, 1), { maxLength: 5 }));
    }
    const variants: Json[] = (schema.oneOf ?? schema.anyOf ?? [schema]).map((v: Json) => resolveRef(doc, v) ?? {});
    const fields = fc.oneof(...variants.map((v) => objectOf(f, v, 0)));
    const near = fc.tuple(fields, fc.option(serverOwned(f), { freq: 2 })).map(([own, owned]) => (owned ? { ...owned, ...own } : own));
    return fc.oneof({ arbitrary: near, weight: 5 }, { arbitrary: example, weight: 1 });
  }

  const rawBody = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.string({ unit: "binary", maxLength: 200 }),
    fc.jsonValue().map((v) => JSON.stringify(v) ?? "null"),
    fc.jsonValue().map((v) => (JSON.stringify(v) ?? "null").slice(0, -1)),
    fc.nat(20_000).map((d) => "[".repeat(d) + "]".repeat(d)),
    fc.nat(20_000).map((d) => '{"a":'.repeat(d)),
    fc.constantFrom(
      '{"__proto__":{"admin":true},"name":"x","scopes":["sources:read"]}',
      '{"constructor":{"prototype":{"x":1}}}',
      "\ufeff{}",
      "{}\u0000",
      "null",
      "[]",
      '""',
      "1e999",
      '{"name":"x","name":"y"}',
    ),
  );
  const contentType = fc.oneof(
    { arbitrary: fc.constantFrom("application/json"), weight: 8 },
    {
      arbitrary: fc.constantFrom(
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/json;charset=latin1",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonp",
        "application/problem+json",
        "",
        "*/*",
      ),
      weight: 2,
    },
  );

  it(
    `never answer 5xx, whatever the JSON or the content type, on every listed operation that takes a body, and never let a body choose ids, owners or state (${RUNS.bodies} cases)`,
    async () => {
      const targets = OPERATIONS.filter((op) => documented(doc, op).requestBody);
      expect(targets.map((op) => op.operationId)).toEqual(
        expect.arrayContaining(["createApiKey", "updateApiKey", "rollApiKey", "createSource", "updateSource", "reportLeakedKeys"]),
      );
      await fc.assert(
        fc.asyncProperty(
          operationAnd(targets, (op) =>
            fc.tuple(
              // Structured (near-valid) bodies for the operation, or raw text.
              fc.oneof({ arbitrary: bodyFor(op).map((b) => ({ structured: b })), weight: 1 }, { arbitrary: rawBody, weight: 1 }),
              contentType,
            ),
          ),
          async ([id, generated, type]) => {
            const op = operation(id);
            const f = fx(op);
            const structured = typeof generated === "string" ? undefined : (generated.structured as Record<string, unknown>);
            const body = typeof generated === "string" ? generated : JSON.stringify(structured);
            const { method, path } = requestOf(op);
            const headers: Record<string, string> = await authenticated(op, body);
            if (type !== "") headers["Content-Type"] = type;
            const { status, json } = await send({ method, path, headers, body, op });
            expect([200, 201, 400, 409, 413, 415], `${label(op)} ${body.slice(0, 200)}`).toContain(status);
            if (status >= 300 || !json || Array.isArray(json)) return;
            // What the server owns is the server's: never what the body said.
            for (const [field, sentValue] of Object.entries(structured ?? {})) {
              if (sentValue === null || documentedField(op, field)) continue;
              expect(json[field], `${label(op)} took ${field} from the body`).not.toEqual(sentValue);
            }
            if (status === 201 && "createdBy" in json) expect(json.createdBy).toBe("usr_admin");
            if ("revokedAt" in json) expect(json.revokedAt).toBeNull();
            if (typeof json.key === "string") expect(json.key).toMatch(/^sk_live_[0-9A-Za-z]{38}$/);
            // A change of a resource answers that resource.
            if (method === "PATCH") expect(json.id).toBe(Object.values(f.params)[0]);
          },
        ),
        fuzzConfig(RUNS.bodies),
      );
      expect(reached()).toEqual(expect.arrayContaining([200, 201, 400, 415]));
      propertiesDone++;
    },
    TIMEOUT,
  );

  /** A field the operation's documented body has. */
  function documentedField(op: ListedOperation, field: string): boolean {
    const schema = resolveRef(doc, documented(doc, op).requestBody?.content?.["application/json"]?.schema) ?? {};
    const variants: Json[] = (schema.oneOf ?? schema.anyOf ?? [schema]).map((v: Json) => resolveRef(doc, v) ?? {});
    return variants.some((v) => field in (v.properties ?? {}));
  }
});

describe("query strings", () => {
  const cursorLike = fc.oneof(
    fc
      .record({ t: fc.oneof(fc.integer(), fc.double(), fc.constant(-1), fc.string()), id: fc.oneof(anyString, fc.integer()) })
      .map((c) => b64url(unescape(encodeURIComponent(JSON.stringify(c))))),
    fc.jsonValue().map((v) => b64url(unescape(encodeURIComponent(JSON.stringify(v) ?? "null")))),
    fc.base64String({ maxLength: 300 }),
    anyString,
  );
  const paramValue = fc.oneof(
    fc.integer().map(String),
    fc.constantFrom(
      "0",
      "1",
      "90",
      "91",
      "100",
      "101",
      "-1",
      "1.5",
      "1e2",
      " 5",
      "0x10",
      "NaN",
      "Infinity",
      "",
      "active",
      "revoked",
      "ACTIVE",
      "all",
      "key_x",
      "9".repeat(400),
    ),
    cursorLike,
    anyString,
  );

  it(
    `never answer 5xx on any listed GET, and a 200 is always a well-formed answer (${RUNS.queries} cases)`,
    async () => {
      const targets = OPERATIONS.filter((op) => op.method === "get");
      expect(targets.map((op) => op.operationId)).toEqual(
        expect.arrayContaining(["listApiKeys", "listSources", "listAuditEvents", "getCallingKey", "getApiKeyUsage", "listApiKeyUsage"]),
      );
      /** Parameter names: the operation's documented ones (each query it takes), and others. */
      const names = (op: ListedOperation) => {
        const documentedNames = ((documented(doc, op).parameters ?? []) as Json[]).filter((p) => p.in === "query").map((p) => p.name);
        return fc.oneof(
          fc.constantFrom(...documentedNames, "limit", "cursor", "status", "keyId", "days", "limit[]", "__proto__", "constructor"),
          anyString,
        );
      };
      const queryFor = (op: ListedOperation) => {
        const param = fc.tuple(names(op), paramValue);
        return fc.oneof(
          {
            arbitrary: fc
              .array(param, { maxLength: 5 })
              .map((ps) => ps.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&")),
            weight: 4,
          },
          {
            arbitrary: fc.array(param, { maxLength: 4 }).map((ps) => ps.map(([k, v]) => `${k}=${v}`.replace(/[#\s]/g, "")).join("&")),
            weight: 1,
          },
          {
            arbitrary: fc.constantFrom(
              "%",
              "%%",
              "limit=%ZZ",
              "&&&",
              "=",
              "limit",
              "limit=1&limit=2",
              "cursor=%00",
              "status=active&status=revoked",
              "days=0",
              "days=91",
            ),
            weight: 1,
          },
        );
      };
      await fc.assert(
        fc.asyncProperty(
          operationAnd(targets, (op) => fc.tuple(queryFor(op))),
          async ([id, q]) => {
            const op = operation(id);
            const { method, path } = requestOf(op);
            const { status, json } = await send({ method, path: `${path}?${q}`, headers: await authenticated(op, undefined), op });
            expect([200, 400], `${path}?${q}`).toContain(status);
            if (status === 200 && Array.isArray(json?.data)) expect((json!.data as unknown[]).length).toBeLessThanOrEqual(100);
          },
        ),
        fuzzConfig(RUNS.queries),
      );
      expect(reached()).toEqual(expect.arrayContaining([200, 400]));
      propertiesDone++;
    },
    TIMEOUT,
  );
});

describe("path ids", () => {
  const idLike = (op: ListedOperation) =>
    fc.oneof(
      { arbitrary: anyString.filter((s) => s.length > 0).map(encodeURIComponent), weight: 4 },
      {
        arbitrary: fc.oneof(
          base62(0, 40).map((s) => `key_${s}`),
          base62(0, 40).map((s) => `src_${s}`),
        ),
        weight: 2,
      },
      {
        arbitrary: fc.constantFrom(
          "%",
          "%2F",
          "..",
          "%2e%2e",
          "%00",
          "%ZZ",
          "null",
          "undefined",
          "__proto__",
          "constructor",
          "key_%27%20OR%201%3D1--",
          "%E2%80%AE",
          "a".repeat(201),
          "a".repeat(5000),
          "key_x%2Frevoke",
        ),
        weight: 2,
      },
      { arbitrary: fc.string({ unit: fc.constantFrom("a", "/", "%", ".", "?", "#", ";", "~"), minLength: 1, maxLength: 12 }), weight: 1 },
      // Real ids: this operation's own, and another workspace's of the same resource.
      { arbitrary: fc.constantFrom(...Object.values(fx(op).params), theirFirst(op)!), weight: 1 },
    );

  it(
    `never answer 5xx on any listed operation with a path id, and another workspace's id is always 404 (${RUNS.pathIds} cases)`,
    async () => {
      const targets = OPERATIONS.filter((op) => op.path.includes("{"));
      expect(targets.map((op) => op.operationId)).toEqual(
        expect.arrayContaining(["getApiKey", "updateApiKey", "revokeApiKey", "rollApiKey", "getApiKeyUsage", "deleteSource"]),
      );
      await fc.assert(
        fc.asyncProperty(
          operationAnd(targets, (op) => fc.tuple(idLike(op), fc.boolean())),
          async ([operationId, id, readOnly]) => {
            const op = operation(operationId);
            const f = fx(op);
            const { method, body } = requestOf(op);
            // The first path parameter is fuzzed; any other is this operation's own resource.
            let first = true;
            const path = op.path.replace(/\{(\w+)\}/g, (_m, name: string) => {
              if (!first) return f.params[name]!;
              first = false;
              return id;
            });
            // A key route is called with a full key, or with one that has sources:read only.
            const key = readOnly ? f.readOnlyKey : f.key;
            const headers = await authenticated(op, body, key);
            if (body !== undefined) headers["Content-Type"] = "application/json";
            const { status } = await send({ method, path, headers, body, op, fuzzedPath: true });
            expect([200, 201, 202, 204, 400, 403, 404, 405, 409], `${method} ${path}`).toContain(status);
            if (theirFirst(op) === id) {
              // The scope is checked before anything is looked up; then another workspace's resource does not exist.
              const lacksScope = op.auth === "key" && readOnly && op.scope !== null && op.scope !== "sources:read";
              expect(status, `${method} ${path}`).toBe(lacksScope ? 403 : 404);
            }
          },
        ),
        fuzzConfig(RUNS.pathIds),
      );
      expect(reached()).toEqual(expect.arrayContaining([200, 400, 403, 404]));
      propertiesDone++;
    },
    TIMEOUT,
  );
});

// ---------------------------------------------------------------------------

describe("body size and content type, on every listed operation that takes a body", () => {
  const bodyOperations = () => OPERATIONS.filter((op) => documented(doc, op).requestBody);
  /** A JSON body of exactly `bytes` bytes: a valid object padded with spaces. */
  const jsonOfSize = (bytes: number) => {
    const core = '{"name":"padded"}';
    return core + " ".repeat(bytes - core.length);
  };
  const streamOf = (text: string) => {
    const bytes = new TextEncoder().encode(text);
    return new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 64 * 1024) controller.enqueue(bytes.slice(i, i + 64 * 1024));
        controller.close();
      },
    });
  };

  it(`accepts a body of exactly MAX_BODY_BYTES (${MAX_BODY_BYTES}) and refuses one byte more with 413, with or without Content-Length`, async () => {
    for (const op of bodyOperations()) {
      const { method, path } = requestOf(op);
      const at = jsonOfSize(MAX_BODY_BYTES);
      const over = jsonOfSize(MAX_BODY_BYTES + 1);
      const headers = async (body: string) => ({ ...(await authenticated(op, body)), "Content-Type": "application/json" });
      const atLimit = await send({ method, path, headers: await headers(at), body: at, op });
      expect(atLimit.status, `${label(op)} at the limit`).not.toBe(413);
      const overLimit = await send({ method, path, headers: await headers(over), body: over, op });
      expect(overLimit.status, `${label(op)} over the limit`).toBe(413);
      expect(overLimit.json!.code).toBe("payload_too_large");
      // Streamed (chunked, no Content-Length): counted as it is read.
      const streamed = await send({ method, path, headers: await headers(over), body: streamOf(over), op });
      expect(streamed.status, `${label(op)} streamed`).toBe(413);
      const streamedOk = await send({ method, path, headers: await headers(at), body: streamOf(at), op });
      expect(streamedOk.status).not.toBe(413);
    }
  });

  it("refuses a declared oversize body with 413 before reading it or looking at credentials", async () => {
    const res = await send({
      method: "POST",
      path: "/v1/sources",
      headers: { "Content-Type": "application/json", "Content-Length": String(50 * 1024 * 1024) },
      body: jsonOfSize(MAX_BODY_BYTES + 1),
    });
    expect(res.status).toBe(413);
  });

  it("refuses a body that is not JSON with 415, and malformed JSON with 400", async () => {
    for (const op of bodyOperations()) {
      const { method, path } = requestOf(op);
      // GitHub's report is authenticated by the signature of its raw bytes, checked before anything else; its
      // media type decides nothing (routes/secret-scanning tests what the report accepts).
      if (op.auth !== "github_signature") {
        for (const type of [
          "text/plain",
          "application/x-www-form-urlencoded",
          "multipart/form-data; boundary=x",
          "application/xml",
          "application/jsonx",
        ]) {
          const body = '{"name":"x"}';
          const res = await send({ method, path, headers: { ...(await authenticated(op, body)), "Content-Type": type }, body, op });
          expect(res.status, `${label(op)} as ${type}`).toBe(415);
          expect(res.json!.code).toBe("unsupported_media_type");
        }
      }
      const malformed = '{"name":';
      const bad = await send({
        method,
        path,
        headers: { ...(await authenticated(op, malformed)), "Content-Type": "application/json" },
        body: malformed,
        op,
      });
      expect(bad.status, label(op)).toBe(400);
      expect(bad.json!.code).toBe("invalid_request");
    }
  });

  it("survives very deep nesting with 400, not a crash", async () => {
    for (const op of bodyOperations()) {
      const { method, path } = requestOf(op);
      for (const body of [
        "[".repeat(500_000) + "]".repeat(500_000),
        `${'{"a":'.repeat(200_000)}1${"}".repeat(200_000)}`,
        `{"name":"x","scopes":["sources:read"],"extra":${"[".repeat(400_000)}${"]".repeat(400_000)}}`,
      ]) {
        const res = await send({
          method,
          path,
          headers: { ...(await authenticated(op, body)), "Content-Type": "application/json" },
          body,
          op,
        });
        expect([200, 201, 400, 409, 413], label(op)).toContain(res.status);
      }
    }
  });
});
