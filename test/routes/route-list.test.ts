import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Json } from "../../src/docs/examples";
import { createEdgeApp } from "../../src/edge";
import { parseOptions } from "../../src/options";
import { OPERATIONS, PAGES } from "../../src/routes";
import { call, createKey, freshWs, problem, session } from "../support/helpers";
import { isolate } from "../support/isolate";
import { exampleRequest } from "../support/operations";

/**
 * The route list (src/routes/index.ts) is what the app mounts: every
 * operation in it is served and documented, and nothing is served or
 * documented that is not in it. Suites that must cover every route iterate
 * the list; test/support/operations.ts builds a request for each entry.
 */

const openapi = async (): Promise<Json> => (await call("GET", "/openapi.json")).json();

describe("the route list", () => {
  it("is exactly the operations of the OpenAPI document, one entry each, with the same auth and scope", async () => {
    const doc = await openapi();
    const documented = Object.entries<Json>(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m} ${path}`));
    const listed = OPERATIONS.map((op) => `${op.method} ${op.path}`);
    expect(new Set(listed).size).toBe(listed.length);
    expect([...listed].sort()).toEqual([...documented].sort());
    for (const op of OPERATIONS) {
      const entry: Json = doc.paths[op.path][op.method];
      expect(entry.operationId).toBe(op.operationId);
      const security = entry.security?.[0] ?? null;
      const expected = { admin: { sessionToken: [] }, key: { apiKey: op.scope ? [op.scope] : [] }, none: null, github_signature: null }[
        op.auth
      ];
      expect(security, op.operationId).toEqual(expected);
      if (op.auth !== "key") expect(op.scope, op.operationId).toBeNull();
    }
  });

  it("every operation is mounted and refuses a call without credentials as its auth kind says", async () => {
    const doc = await openapi();
    for (const op of OPERATIONS) {
      const { method, path, ...init } = exampleRequest(doc, op);
      const res = await call(method, path, init);
      const label = `${op.operationId} ${method} ${path}`;
      if (op.auth === "none") {
        expect(res.status, label).toBe(200);
        continue;
      }
      expect(res.status, label).toBe(401);
      const expected = op.auth === "github_signature" ? "invalid_signature" : "missing_credentials";
      expect((await problem(res)).code, label).toBe(expected);
    }
  });

  it("with the credential its auth kind needs, each operation's example request is valid (never a 400)", async () => {
    const doc = await openapi();
    const admin = await session(freshWs());
    const key = (await createKey(admin)).key;
    for (const op of OPERATIONS) {
      if (op.auth === "github_signature") continue;
      const { method, path, ...init } = exampleRequest(doc, op);
      const token = { admin, key, none: undefined }[op.auth];
      // The key revokes itself last, so that every other call still has it.
      if (op.operationId === "revokeCallingKey") continue;
      const res = await call(method, path, { ...init, token });
      expect(res.status, `${op.operationId} ${await res.clone().text()}`).not.toBe(400);
      expect(res.status, op.operationId).toBeLessThan(500);
      await res.body?.cancel();
    }
    expect((await call("POST", "/v1/key/revoke", { token: key })).status).toBe(200);
  });

  it("the app serves nothing else: a route mounted any other way than through the list (or the pages) fails here", () => {
    const key = (method: string, path: string) => `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ":$1")}`;
    const listed = [...OPERATIONS.map((op) => key(op.method, op.path)), ...PAGES.map((page) => key(page.method, page.path))];
    // Hono's own table of what the app answers; middleware (`*` paths) is not an endpoint.
    const endpoints = (routes: { method: string; path: string }[]) =>
      [...new Set(routes.filter((r) => r.method !== "ALL" && !r.path.includes("*")).map((r) => key(r.method, r.path)))].sort();
    expect(endpoints(isolate().app().routes)).toEqual([...listed].sort());
    // The edge app answers its hot route itself and hands everything else to the full app: what it answers is listed too.
    const { keys, usage, limiter } = isolate();
    const edge = createEdgeApp({ options: parseOptions(env), services: { keys, usage, limiter } }, () =>
      Promise.reject(new Error("not loaded")),
    );
    expect(endpoints(edge.routes).filter((endpoint) => !listed.includes(endpoint))).toEqual([]);
  });

  it("the pages are served, outside the document", async () => {
    const doc = await openapi();
    for (const page of PAGES) {
      expect(doc.paths[page.path], page.path).toBeUndefined();
      const res = await call("GET", page.path);
      expect(res.status, page.path).toBeLessThan(400);
      await res.body?.cancel();
    }
  });
});
