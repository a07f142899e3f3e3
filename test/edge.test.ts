import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../src/app";
import { createEdgeApp } from "../src/edge";
import { parseOptions } from "../src/options";
import { createKey, freshWs, session } from "./support/helpers";
import { buildRequest, Isolate } from "./support/isolate";

/**
 * The deployed worker answers GET /v1/key from a small edge app built at
 * start-up and everything else from the full app, loaded on first use. These
 * tests hold the two to the same answers.
 */

/** Status, headers (but the request id) and body, for comparing two answers. */
async function answer(res: Response) {
  const headers = Object.fromEntries([...res.headers].filter(([name]) => name !== "x-request-id"));
  const text = await res.text();
  return { status: res.status, headers, body: text.replace(/"requestId":"[^"]+"/, '"requestId":"…"') };
}

function apps() {
  const isolate = new Isolate();
  const parts = { options: parseOptions(env), services: { keys: isolate.keys, usage: isolate.usage, limiter: isolate.limiter } };
  let loads = 0;
  const full = createApp(parts);
  const edge = createEdgeApp(parts, async () => {
    loads++;
    return full;
  });
  const run = async (app: { fetch: typeof full.fetch }, request: Request) => {
    const ctx = createExecutionContext();
    const res = await app.fetch(request, env, ctx);
    await waitOnExecutionContext(ctx);
    return res;
  };
  return { edge: (r: Request) => run(edge, r), full: (r: Request) => run(full, r), loads: () => loads };
}

describe("the edge app", () => {
  it("answers GET /v1/key exactly as the full app does, without loading it", async () => {
    const a = apps();
    const admin = await session(freshWs());
    const k = await createKey(admin, { scopes: ["sources:read"] });
    const revoked = await createKey(admin);
    await new Isolate().call("POST", `/v1/api-keys/${revoked.id}/revoke`, { token: admin });
    const cases: [string, Record<string, string>][] = [
      ["a valid key", { Authorization: `Bearer ${k.key}` }],
      ["no credentials", {}],
      ["a mistyped key", { Authorization: `Bearer ${k.key.slice(0, -1)}x` }],
      ["a revoked key", { Authorization: `Bearer ${revoked.key}` }],
      ["a browser on another origin", { Authorization: `Bearer ${k.key}`, Origin: "https://elsewhere.example" }],
    ];
    for (const [label, headers] of cases) {
      const request = () => new Request("https://owlish.test/v1/key", { headers });
      expect(await answer(await a.edge(request())), label).toEqual(await answer(await a.full(request())));
    }
    expect(a.loads()).toBe(0);
  });

  it("hands every other request to the full app, loaded once", async () => {
    const a = apps();
    const admin = await session(freshWs());
    for (const [method, path] of [
      ["GET", "/health"],
      ["GET", "/v1/api-keys"],
      ["OPTIONS", "/v1/key"],
      ["POST", "/v1/key"],
      ["GET", "/nope"],
    ] as const) {
      const request = () => buildRequest(method, path, { token: admin });
      expect(await answer(await a.edge(request())), `${method} ${path}`).toEqual(await answer(await a.full(request())));
    }
    expect(a.loads()).toBe(5);
  });
});

describe("the deployed worker", () => {
  it("serves the same OpenAPI document as the full app built eagerly", async () => {
    const deployed = await (await exports.default.fetch("https://owlish.test/openapi.json")).json();
    const isolate = new Isolate();
    const eager = await (await isolate.call("GET", "/openapi.json")).json();
    expect(deployed).toEqual(eager);
  });

  it("verifies a key, then answers a key-management call, sharing one memo", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin);
    const me = await exports.default.fetch(buildRequest("GET", "/v1/key", { token: k.key }));
    expect(me.status).toBe(200);
    expect((await me.json<{ id: string }>()).id).toBe(k.id);
    const revoke = await exports.default.fetch(buildRequest("POST", `/v1/api-keys/${k.id}/revoke`, { token: admin }));
    expect(revoke.status).toBe(200);
    // The revoke ran in the full app; the edge route sees it at once because they share the key store.
    const after = await exports.default.fetch(buildRequest("GET", "/v1/key", { token: k.key }));
    expect(after.status).toBe(401);
  });
});
