import fc from "fast-check";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Json } from "../src/docs/examples";
import { resolveRef } from "../src/docs/examples";
import type { Env } from "../src/env";
import { generateKey } from "../src/keys/format/key";
import { parseOptions } from "../src/options";
import { OptionsError } from "../src/options-error";
import { OPERATIONS } from "../src/routes";
import { createPublicKeySource, PublicKeysUnavailable } from "../src/secret-scanning/public-keys";
import { type GithubSigner, githubSigner, publicKeysDocument } from "./github-signing";
import { call, captureConsole, createKey, expectInvalid, freshWs, session } from "./helpers";
import { exampleRequest, type ListedOperation } from "./operations";
import { env, fetchWith } from "./worker";

/**
 * No error message quotes more than 12 characters of what a client sent
 * (as much of a key as its displayed prefix, `sk_live_4fQz`): a key pasted
 * into the wrong field must not come back in a problem's `detail` or
 * `errors[].message`, nor reach a log line, whole or nearly. Checked on
 * every route of the route list, with secret-like strings in every field of
 * its body and every query, path and header parameter its OpenAPI entry
 * names (test/operations.ts builds the rest of the request), so a new
 * route or field is covered without touching this file.
 */

/** The longest stretch of an input any message may quote; one more is a leak. */
const ECHO_LIMIT = 12;

/** The first 13-character stretch of `input` found in `text`, if any. */
function leakedStretch(input: string, text: string): string | undefined {
  for (let i = 0; i + ECHO_LIMIT + 1 <= input.length; i++) {
    const stretch = input.slice(i, i + ECHO_LIMIT + 1);
    if (text.includes(stretch)) return stretch;
  }
  return undefined;
}

/** A text and, when it is JSON, every string in it decoded (escapes such as \" would hide a quote from a raw search). */
function readable(text: string): string {
  const strings: string[] = [text];
  const walk = (v: unknown): void => {
    if (typeof v === "string") strings.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") {
      for (const [k, inner] of Object.entries(v)) {
        strings.push(k);
        walk(inner);
      }
    }
  };
  try {
    walk(JSON.parse(text));
  } catch {
    // not JSON: the raw text is all there is
  }
  return strings.join("\u0000");
}

function expectNoLeak(secret: string, text: string, where: string) {
  for (const input of new Set([secret, encodeURIComponent(secret)])) {
    const stretch = leakedStretch(input, readable(text));
    expect(stretch, `${where} quotes ${JSON.stringify(stretch)} of ${JSON.stringify(secret)}: ${text.slice(0, 500)}`).toBeUndefined();
  }
}

// ---------------------------------------------------------------------------
// Where a secret can go: every place an operation's OpenAPI entry names.

type Slot =
  | { op: ListedOperation; in: "body"; at: (string | number)[] }
  | { op: ListedOperation; in: "query" | "path" | "header"; name: string };

/** Every leaf of a request body schema, as a path into the body (an array's first item standing for all). */
function leaves(doc: Json, schema: Json | undefined, at: (string | number)[] = [], depth = 0): (string | number)[][] {
  const s = resolveRef(doc, schema);
  if (!s || depth > 8) return [at];
  const variants: Json[] | undefined = s.oneOf ?? s.anyOf ?? s.allOf;
  if (variants) {
    const all = variants.flatMap((v) => leaves(doc, v, at, depth + 1));
    return [...new Map(all.map((p) => [JSON.stringify(p), p])).values()];
  }
  if (s.properties) return Object.entries<Json>(s.properties).flatMap(([name, p]) => leaves(doc, p, [...at, name], depth + 1));
  if (s.items) return leaves(doc, s.items, [...at, 0], depth + 1);
  return [at];
}

function slotsOf(doc: Json, op: ListedOperation): Slot[] {
  const documented: Json = doc.paths[op.path][op.method];
  const slots: Slot[] = [];
  for (const p of (documented.parameters ?? []) as Json[]) {
    if (p.in === "query" || p.in === "path" || p.in === "header") slots.push({ op, in: p.in, name: p.name });
  }
  const body = documented.requestBody?.content?.["application/json"]?.schema;
  if (body) for (const at of leaves(doc, body)) slots.push({ op, in: "body", at });
  return slots;
}

const describeSlot = (s: Slot) => `${s.op.operationId} ${s.in} ${"at" in s ? s.at.join(".") || "(root)" : s.name}`;

/** `value` with `secret` put at `at`, the containers on the way made as needed. */
function placed(value: unknown, at: (string | number)[], secret: string): unknown {
  if (at.length === 0) return secret;
  const [head, ...rest] = at;
  if (typeof head === "number") {
    const array = Array.isArray(value) ? [...value] : [];
    array[head] = placed(array[head], rest, secret);
    return array;
  }
  const object = value && typeof value === "object" && !Array.isArray(value) ? { ...(value as Record<string, unknown>) } : {};
  object[head as string] = placed(object[head as string], rest, secret);
  return object;
}

// ---------------------------------------------------------------------------

let doc: Json;
let slots: Slot[];
let admin: string;
let key: string;
let github: GithubSigner;
let pinned: Partial<Env>;

beforeAll(async () => {
  doc = await (await call("GET", "/openapi.json")).json();
  slots = OPERATIONS.flatMap((op) => slotsOf(doc, op));
  admin = await session(freshWs("ws_echo"));
  key = (await createKey(admin, { scopes: ["sources:read", "sources:write", "sources:delete"] })).key;
  github = await githubSigner();
  pinned = { SECRET_SCANNING_PUBLIC_KEYS: publicKeysDocument(github) };
});

let capture: ReturnType<typeof captureConsole>;
beforeEach(() => {
  capture = captureConsole();
});
afterEach(() => capture.restore());

/** The slot's example request with `secret` in the slot, sent with the credential its auth kind needs. */
async function send(slot: Slot, secret: string): Promise<Response> {
  const request = exampleRequest(doc, slot.op, slot.in === "path" ? { [slot.name]: secret } : {});
  let path = request.path;
  if (slot.in === "query") path += `?${slot.name}=${encodeURIComponent(secret)}`;
  let body = request.body;
  if (slot.in === "body") body = placed(body, slot.at, secret);
  const headers: Record<string, string> = {};
  const auth = slot.op.auth;
  if (auth === "github_signature") {
    const raw = JSON.stringify(body);
    Object.assign(headers, await github.sign(raw));
    if (slot.in === "header") headers[slot.name] = secret;
    return fetchWith(pinned, request.method, path, { body: raw, headers: { "Content-Type": "application/json", ...headers } });
  }
  if (slot.in === "header") headers[slot.name] = secret;
  const token = { admin, key, none: undefined }[auth];
  return call(request.method, path, { token, headers, ...(body === undefined ? {} : { body }) });
}

/** Sends `secret` in `slot`; no error answer and no log line may quote 13 characters of it. (A success may show what it stored.) */
async function checkSlot(slot: Slot, secret: string): Promise<number> {
  capture.lines.length = 0;
  const res = await send(slot, secret);
  const text = await res.text();
  const where = `${describeSlot(slot)} → ${res.status}`;
  expect(res.status, `${where}: ${text.slice(0, 300)}`).toBeLessThan(500);
  if (res.status >= 300) expectNoLeak(secret, text, where);
  for (const line of capture.lines) expectNoLeak(secret, line, `${where}, log line`);
  return res.status;
}

// ---------------------------------------------------------------------------

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const printable = fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c));
/** Strings a secret could be: real keys (bare, padded, inside an address-like entry), random base62 and printable text, 40–200 characters. */
const secretLike = fc.oneof(
  fc.constant(null).map(() => generateKey()),
  fc.constantFrom(" ", "\t", "10.0.0.0/", "https://", "Bearer ").map((p) => `${p}${generateKey()}`),
  fc.constantFrom("/24", " ", "\n", "%").map((s) => `${generateKey()}${s}`),
  fc.string({ unit: fc.constantFrom(...BASE62), minLength: 40, maxLength: 200 }),
  fc.string({ unit: printable, minLength: 40, maxLength: 200 }),
);

describe("error messages quote at most 12 characters of any input", () => {
  it("the route list offers secret-bearing places on every route that takes input", () => {
    const covered = new Set(slots.map((s) => s.op.operationId));
    const withInput = OPERATIONS.filter((op) => {
      const d: Json = doc.paths[op.path][op.method];
      return d.requestBody || (d.parameters ?? []).some((p: Json) => ["query", "path", "header"].includes(p.in));
    }).map((op) => op.operationId);
    expect([...covered].sort()).toEqual([...withInput].sort());
    // The field of the finding, and the report's fields, are among them.
    expect(slots.map(describeSlot)).toEqual(
      expect.arrayContaining(["createApiKey body ipAllowlist.0", "updateApiKey body ipAllowlist.0", "reportLeakedKeys body 0.token"]),
    );
  });

  it("a real key in every body field and every query, path and header parameter of every route", async () => {
    const statuses = new Set<number>();
    for (const slot of slots) statuses.add(await checkSlot(slot, generateKey()));
    // Refusals were reached (else there was nothing to check).
    expect([...statuses]).toEqual(expect.arrayContaining([400, 404]));
  });

  it("property: secret-like strings anywhere, on any route", async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(), secretLike, async (i, secret) => {
        await checkSlot(slots[i % slots.length]!, secret);
      }),
      { numRuns: 400, endOnFailure: true },
    );
  }, 120_000);
});

describe("the IP allowlist", () => {
  it("a key pasted as an entry: 400 at its index, the message quoting its first 12 characters at most", async () => {
    const pasted = generateKey();
    for (const [method, path] of [
      ["POST", "/v1/api-keys"],
      ["PATCH", "/v1/api-keys/key_3kTMd9bF0aR2xQe7LpWz1Yc5"],
    ] as const) {
      const body =
        method === "POST"
          ? { name: "pasted", scopes: ["sources:read"], ipAllowlist: ["203.0.113.7", pasted] }
          : { ipAllowlist: ["203.0.113.7", pasted] };
      const res = await call(method, path, { token: admin, body: JSON.stringify(body) });
      const problem = await expectInvalid(res.clone(), "ipAllowlist.1");
      const message = problem.errors?.find((e) => e.path === "ipAllowlist.1")?.message ?? "";
      expect(message).toContain(pasted.slice(0, ECHO_LIMIT));
      expect(message).not.toContain(pasted.slice(0, ECHO_LIMIT + 1));
      expectNoLeak(pasted, await res.text(), `${method} ${path}`);
    }
  });

  it("a short entry is still quoted whole, so it can be found", async () => {
    const res = await call("POST", "/v1/api-keys", {
      token: admin,
      body: { name: "typo", scopes: ["sources:read"], ipAllowlist: ["10.0.0.0/33"] },
    });
    const problem = await expectInvalid(res, "ipAllowlist.0");
    expect(problem.errors?.find((e) => e.path === "ipAllowlist.0")?.message).toContain('"10.0.0.0/33"');
  });
});

describe("configuration errors", () => {
  it("a secret set in the wrong var is quoted at most 12 characters in the error (which the worker logs)", () => {
    const secret = generateKey();
    for (const name of ["LAST_USED_FLUSH_SECONDS", "LAST_USED_COALESCE_MS", "AUTH_FAILURE_PERIOD_SECONDS", "LOG_SUCCESSES"] as const) {
      let error: unknown;
      try {
        parseOptions({ ...env, [name]: secret });
      } catch (e) {
        error = e;
      }
      expect(error, name).toBeInstanceOf(OptionsError);
      const message = (error as Error).message;
      expect(message, name).toContain(name);
      expectNoLeak(secret, message, name);
    }
  });
});

describe("configuration values in logs", () => {
  it("a keys URL carrying credentials is logged by its origin only when the fetch fails", async () => {
    const [user, password, token] = [generateKey(), generateKey(), generateKey()];
    const url = `https://${user}:${password}@keys.test/${crypto.randomUUID()}/${token}?access_token=${token}`;
    const source = createPublicKeySource({
      url,
      cache: env.KEY_CACHE,
      fetch: async () => new Response("no", { status: 401 }),
    });
    await expect(source.keyFor("any")).rejects.toBeInstanceOf(PublicKeysUnavailable);
    expect(capture.events()).toContainEqual(
      expect.objectContaining({ event: "secret_scanning_keys_unavailable", origin: "https://keys.test" }),
    );
    for (const secret of [user, password, token]) for (const line of capture.lines) expectNoLeak(secret, line, "log line");
  });
});
