import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it, onTestFinished } from "vitest";
import worker from "../../src/index";
import { call, captureConsole, createKey, freshWs, problem, session } from "../support/helpers";
import { buildRequest } from "../support/isolate";

/** Errors (problem+json with a stable code) and the service routes. */

const MiB = 1024 * 1024;

async function expectProblem(res: Response, status: number, code: string) {
  expect(res.status).toBe(status);
  const body = await problem(res);
  expect(body).toMatchObject({ status, code });
  expect(typeof body.type).toBe("string");
  expect(body.type.length).toBeGreaterThan(0);
  expect(typeof body.title).toBe("string");
  expect(body.title.length).toBeGreaterThan(0);
  expect(typeof body.detail).toBe("string");
  expect(body.detail.length).toBeGreaterThan(0);
  return body;
}

/** A JSON body of exactly `bytes` bytes that creates a valid key (the padding field is ignored). */
/** A valid create body of exactly `bytes` bytes: padded with whitespace (the body takes no other field). */
function paddedKeyBody(bytes: number) {
  const head = '{"name":"padded","scopes":["sources:read"]';
  const tail = "}";
  return head + " ".repeat(bytes - head.length - tail.length) + tail;
}

describe("problem+json on every client error", () => {
  it("every kind of 4xx is problem+json with type, title, status, detail and code", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    const member = await session(ws, "member");
    const full = await createKey(admin);
    const readOnly = await createKey(admin, { scopes: ["sources:read"] });
    const revoked = await createKey(admin);
    await call("POST", `/v1/api-keys/${revoked.id}/revoke`, { token: admin });

    const cases: [string, () => Promise<Response>, number, string][] = [
      ["no auth", () => call("GET", "/v1/api-keys"), 401, "missing_credentials"],
      ["bad session", () => call("GET", "/v1/api-keys", { token: "nope" }), 401, "invalid_credentials"],
      ["made-up key", () => call("GET", "/v1/sources", { token: `sk_live_${"A".repeat(38)}` }), 401, "invalid_credentials"],
      ["revoked key", () => call("GET", "/v1/sources", { token: revoked.key }), 401, "revoked_api_key"],
      ["member", () => call("GET", "/v1/api-keys", { token: member }), 403, "forbidden"],
      [
        "missing scope",
        () => call("POST", "/v1/sources", { token: readOnly.key, body: { type: "text", name: "n", content: "c" } }),
        403,
        "insufficient_scope",
      ],
      ["bad body", () => call("POST", "/v1/api-keys", { token: admin, body: { name: "" } }), 400, "invalid_request"],
      ["bad query", () => call("GET", "/v1/api-keys?limit=0", { token: admin }), 400, "invalid_request"],
      ["bad JSON", () => call("POST", "/v1/api-keys", { token: admin, body: "{" }), 400, "invalid_request"],
      ["unknown key id", () => call("GET", "/v1/api-keys/key_nope", { token: admin }), 404, "not_found"],
      ["unknown source id", () => call("GET", "/v1/sources/src_nope", { token: full.key }), 404, "not_found"],
      ["unknown route", () => call("GET", "/nope"), 404, "not_found"],
      ["wrong method", () => call("DELETE", "/health"), 405, "method_not_allowed"],
      ["too large", () => call("POST", "/v1/api-keys", { token: admin, body: paddedKeyBody(MiB + 1) }), 413, "payload_too_large"],
      [
        "wrong content type",
        () =>
          call("POST", "/v1/api-keys", {
            token: admin,
            body: '{"name":"x","scopes":["sources:read"]}',
            headers: { "Content-Type": "text/plain" },
          }),
        415,
        "unsupported_media_type",
      ],
    ];
    for (const [label, send, status, code] of cases) {
      const res = await send();
      expect(res.status, label).toBe(status);
      expect(res.headers.get("X-Content-Type-Options"), label).toBe("nosniff");
      const body = await expectProblem(res, status, code);
      if (status === 400) {
        expect(Array.isArray(body.errors), label).toBe(true);
        for (const e of body.errors!) {
          expect(typeof e.path, label).toBe("string");
          expect(typeof e.message, label).toBe("string");
        }
      }
      if (status === 401) expect(res.headers.get("WWW-Authenticate") ?? "", label).toMatch(/^Bearer/);
      if (code === "insufficient_scope") expect(body.requiredScope).toBe("sources:write");
    }
  });

  it("problem bodies never echo the presented credential", async () => {
    const token = `sk_live_${"Z".repeat(38)}`;
    const res = await call("GET", "/v1/sources", { token });
    expect(res.status).toBe(401);
    expect(await res.text()).not.toContain(token);
  });
});

describe("malformed JSON -> 400 invalid_request", () => {
  it.each([
    ["a lone brace", "{"],
    ["a truncated object", '{"name":"x","scopes":["sources:read"]'],
    ["single quotes", "{'name':'x'}"],
    ["unquoted keys", "{name: 1}"],
    ["trailing comma", '{"name":"x",}'],
    ["plain text", "hello"],
    ["empty body", ""],
  ])("on POST /v1/api-keys: %s", async (_label, raw) => {
    const admin = await session(freshWs());
    const res = await call("POST", "/v1/api-keys", { token: admin, body: raw, headers: { "Content-Type": "application/json" } });
    expect(res.status).toBe(400);
    const body = await expectProblem(res, 400, "invalid_request");
    expect(Array.isArray(body.errors)).toBe(true);
    // Nothing was created.
    const list = (await (await call("GET", "/v1/api-keys", { token: admin })).json()) as { data: unknown[] };
    expect(list.data).toEqual([]);
  });

  it("on POST /v1/sources and PATCH /v1/sources/{id}", async () => {
    const key = (await createKey(await session(freshWs()))).key;
    await expectProblem(await call("POST", "/v1/sources", { token: key, body: '{"type":"text",' }), 400, "invalid_request");
    await expectProblem(await call("PATCH", "/v1/sources/src_x", { token: key, body: "{nope" }), 400, "invalid_request");
  });

  it("application/json with a charset parameter is fine", async () => {
    const admin = await session(freshWs());
    const res = await call("POST", "/v1/api-keys", {
      token: admin,
      body: { name: "charset", scopes: ["sources:read"] },
      headers: { "Content-Type": "application/json; charset=utf-8" },
    });
    expect(res.status).toBe(201);
  });
});

describe("wrong Content-Type -> 415 unsupported_media_type", () => {
  const json = JSON.stringify({ name: "typed", scopes: ["sources:read"] });

  it.each(["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml", "text/json-ish"])(
    "POST /v1/api-keys with %s",
    async (type) => {
      const admin = await session(freshWs());
      const res = await call("POST", "/v1/api-keys", { token: admin, body: json, headers: { "Content-Type": type } });
      await expectProblem(res, 415, "unsupported_media_type");
      const list = (await (await call("GET", "/v1/api-keys", { token: admin })).json()) as { data: unknown[] };
      expect(list.data).toEqual([]);
    },
  );

  it("POST /v1/api-keys with no Content-Type at all: 415, and nothing is created", async () => {
    const admin = await session(freshWs());
    const res = await exports.default.fetch(
      new Request("https://owlish.test/v1/api-keys", {
        method: "POST",
        headers: { Authorization: `Bearer ${admin}` },
        body: new TextEncoder().encode(json),
      }),
    );
    await expectProblem(res, 415, "unsupported_media_type");
    const list = (await (await call("GET", "/v1/api-keys", { token: admin })).json()) as { data: unknown[] };
    expect(list.data).toEqual([]);
  });

  it("POST /v1/sources and PATCH /v1/sources/{id} with text/plain", async () => {
    const key = (await createKey(await session(freshWs()))).key;
    const headers = { "Content-Type": "text/plain" };
    await expectProblem(
      await call("POST", "/v1/sources", { token: key, body: JSON.stringify({ type: "text", name: "n", content: "c" }), headers }),
      415,
      "unsupported_media_type",
    );
    await expectProblem(
      await call("PATCH", "/v1/sources/src_x", { token: key, body: JSON.stringify({ name: "n" }), headers }),
      415,
      "unsupported_media_type",
    );
  });
});

describe("unknown routes and wrong methods", () => {
  it.each(["/", "/nope", "/v1", "/v1/", "/v1/nope", "/v2/api-keys", "/v1/keys", "/v1/sources/src_x/extra", "/health/deep"])(
    "GET %s -> 404 not_found",
    async (path) => {
      const key = (await createKey(await session(freshWs()))).key;
      const res = await call("GET", path, { token: key });
      await expectProblem(res, 404, "not_found");
    },
  );

  it("an unknown path below /v1/api-keys is 404 for an admin", async () => {
    const admin = await session(freshWs());
    const created = await createKey(admin);
    await expectProblem(await call("GET", `/v1/api-keys/${created.id}/extra`, { token: admin }), 404, "not_found");
    await expectProblem(await call("POST", `/v1/api-keys/${created.id}/unrevoke`, { token: admin }), 404, "not_found");
  });

  const allowOf = (res: Response) =>
    new Set(
      (res.headers.get("Allow") ?? "")
        .split(",")
        .map((m) => m.trim().toUpperCase())
        .filter(Boolean),
    );

  it.each([
    ["DELETE", "/health", ["GET"]],
    ["POST", "/health", ["GET"]],
    ["POST", "/openapi.json", ["GET"]],
    ["POST", "/docs", ["GET"]],
    ["POST", "/v1/key", ["GET"]],
    ["DELETE", "/v1/key", ["GET"]],
    ["PUT", "/v1/sources", ["GET", "POST"]],
    ["DELETE", "/v1/sources", ["GET", "POST"]],
    ["PUT", "/v1/sources/src_x", ["GET", "PATCH", "DELETE"]],
    ["POST", "/v1/sources/src_x", ["GET", "PATCH", "DELETE"]],
  ])("%s %s -> 405 with Allow", async (method, path, allowed) => {
    const key = (await createKey(await session(freshWs()))).key;
    const res = await call(method, path, { token: key });
    await expectProblem(res, 405, "method_not_allowed");
    const allow = allowOf(res);
    for (const m of allowed) expect(allow, res.headers.get("Allow") ?? "(none)").toContain(m);
    expect(allow).not.toContain(method);
  });

  it.each([
    ["PUT", "/v1/api-keys", ["GET", "POST"]],
    ["DELETE", "/v1/api-keys", ["GET", "POST"]],
    ["PATCH", "/v1/api-keys", ["GET", "POST"]],
    ["DELETE", "/v1/api-keys/{id}", ["GET", "PATCH"]],
    ["PUT", "/v1/api-keys/{id}", ["GET", "PATCH"]],
    ["GET", "/v1/api-keys/{id}/revoke", ["POST"]],
    ["DELETE", "/v1/api-keys/{id}/revoke", ["POST"]],
  ])("admin: %s %s -> 405 with Allow", async (method, template, allowed) => {
    const admin = await session(freshWs());
    const created = await createKey(admin);
    const res = await call(method, template.replace("{id}", created.id), { token: admin });
    await expectProblem(res, 405, "method_not_allowed");
    const allow = allowOf(res);
    for (const m of allowed) expect(allow, res.headers.get("Allow") ?? "(none)").toContain(m);
    expect(allow).not.toContain(method);
    // And the key is untouched.
    const record = (await (await call("GET", `/v1/api-keys/${created.id}`, { token: admin })).json()) as { revokedAt: unknown };
    expect(record.revokedAt).toBeNull();
  });
});

describe("body size", () => {
  it("a body over 1 MiB -> 413 payload_too_large, and nothing is created", async () => {
    const admin = await session(freshWs());
    const res = await call("POST", "/v1/api-keys", { token: admin, body: paddedKeyBody(MiB + 1) });
    await expectProblem(res, 413, "payload_too_large");
    const list = (await (await call("GET", "/v1/api-keys", { token: admin })).json()) as { data: unknown[] };
    expect(list.data).toEqual([]);
  });

  it("a body of exactly 1 MiB is accepted", async () => {
    const admin = await session(freshWs());
    const body = paddedKeyBody(MiB);
    expect(new TextEncoder().encode(body).length).toBe(MiB);
    const res = await call("POST", "/v1/api-keys", { token: admin, body });
    expect(res.status).toBe(201);
  });

  it("a streamed body over 1 MiB without Content-Length -> 413", async () => {
    const admin = await session(freshWs());
    const chunk = new TextEncoder().encode("a".repeat(64 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 0) controller.enqueue(new TextEncoder().encode('{"name":"x","scopes":["sources:read"],"pad":"'));
        if (sent >= MiB + chunk.length) {
          controller.enqueue(new TextEncoder().encode('"}'));
          controller.close();
          return;
        }
        controller.enqueue(chunk);
        sent += chunk.length;
      },
    });
    const req = new Request("https://owlish.test/v1/api-keys", {
      method: "POST",
      headers: { Authorization: `Bearer ${admin}`, "Content-Type": "application/json" },
      body: stream,
      // @ts-expect-error -- `duplex` is required for stream bodies but missing from some type sets.
      duplex: "half",
    });
    expect(req.headers.get("Content-Length")).toBeNull();
    const res = await exports.default.fetch(req);
    await expectProblem(res, 413, "payload_too_large");
  });

  it("a body over 1 MiB on POST /v1/sources -> 413", async () => {
    const key = (await createKey(await session(freshWs()))).key;
    const body = JSON.stringify({ type: "text", name: "big", content: "c".repeat(MiB + 10) });
    await expectProblem(await call("POST", "/v1/sources", { token: key, body }), 413, "payload_too_large");
  });
});

describe("headers and service routes", () => {
  it("X-Content-Type-Options: nosniff on successes and failures alike", async () => {
    const admin = await session(freshWs());
    const created = await createKey(admin);
    const responses = [
      await call("GET", "/health"),
      await call("GET", "/openapi.json"),
      await call("GET", "/docs"),
      await call("GET", "/v1/api-keys", { token: admin }),
      await call("POST", "/v1/api-keys", { token: admin, body: { name: "n", scopes: ["sources:read"] } }),
      await call("GET", `/v1/api-keys/${created.id}`, { token: admin }),
      await call("GET", "/v1/key", { token: created.key }),
      await call("GET", "/v1/sources", { token: created.key }),
      await call("GET", "/v1/api-keys"),
      await call("GET", "/nope"),
      await call("DELETE", "/health"),
    ];
    for (const res of responses) expect(res.headers.get("X-Content-Type-Options"), `${res.status} ${res.url}`).toBe("nosniff");
  });

  it("GET /health -> 200 {status: ok} without auth", async () => {
    const res = await call("GET", "/health");
    expect(res.status).toBe(200);
    expect(res.headers.get("Content-Type")).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({ status: "ok" });
  });

  it("GET /health ignores any Authorization header, even garbage", async () => {
    for (const h of ["Bearer garbage", "Basic dXNlcjpwYXNz", `Bearer sk_live_${"A".repeat(38)}`]) {
      const res = await call("GET", "/health", { headers: { Authorization: h } });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: "ok" });
    }
  });
});

describe("the worker entry (src/index.ts)", () => {
  it("answers GET /health as deployed, with the production parts", async () => {
    const res = await exports.default.fetch("https://owlish.test/health");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  });

  it("a var that makes no sense fails closed: 503 problem+json unavailable on every route, the var named in the log only", async () => {
    const logs = captureConsole();
    onTestFinished(logs.restore);
    const admin = await session(freshWs());
    const key = (await createKey(admin)).key;
    const misconfigured = { ...env, LOG_SUCCESSES: "maybe" };
    for (const [path, token] of [
      ["/health", undefined],
      ["/v1/key", key],
      ["/v1/api-keys", admin],
    ] as const) {
      const ctx = createExecutionContext();
      const res = await worker.fetch(buildRequest("GET", path, { token }) as Parameters<typeof worker.fetch>[0], misconfigured, ctx);
      await waitOnExecutionContext(ctx);
      expect(res.status, path).toBe(503);
      // The problem table's own `unavailable`, as every other 503.
      expect(res.headers.get("Retry-After")).toBe("1");
      const body = await problem(res);
      expect(body).toMatchObject({ status: 503, code: "unavailable" });
      expect(JSON.stringify(body)).not.toContain("LOG_SUCCESSES");
      // Like every problem, it carries the request id: in the body, the header, and the line that logs the cause.
      expect(body.requestId, path).toMatch(/^[0-9a-f-]{36}$/);
      expect(res.headers.get("X-Request-Id"), path).toBe(body.requestId);
      expect(logs.events()).toContainEqual(expect.objectContaining({ event: "invalid_configuration", requestId: body.requestId }));
    }
    expect(logs.events()).toContainEqual(
      expect.objectContaining({
        level: "error",
        event: "invalid_configuration",
        error: expect.stringContaining('LOG_SUCCESSES must be "true" or "false"'),
      }),
    );
    // The same entry with a sound env serves again.
    const ctx = createExecutionContext();
    expect((await worker.fetch(buildRequest("GET", "/health") as Parameters<typeof worker.fetch>[0], env, ctx)).status).toBe(200);
  });

  it("the secret scanning vars are options like the others: a bad value is a 503 naming the var in the log, never its value", async () => {
    for (const [name, value] of [
      ["SECRET_SCANNING_PUBLIC_KEYS", '{"public_keys":[]}'],
      ["SECRET_SCANNING_PUBLIC_KEYS", "{not json"],
      ["SECRET_SCANNING_KEYS_URL", "ftp://user:hunter2@keys.example/"],
    ] as const) {
      const logs = captureConsole();
      const ctx = createExecutionContext();
      const request = buildRequest("POST", "/v1/secret-scanning/github", { body: "[]" }) as Parameters<typeof worker.fetch>[0];
      const res = await worker.fetch(request, { ...env, [name]: value }, ctx);
      await waitOnExecutionContext(ctx);
      logs.restore();
      expect(res.status, value).toBe(503);
      expect(await problem(res)).toMatchObject({ status: 503, code: "unavailable" });
      const logged = logs.events().find((e) => e.event === "invalid_configuration");
      expect(String(logged?.error), value).toContain(name);
      expect(String(logged?.error)).not.toContain("hunter2");
    }
  });
});

describe("a client error is never a 500", () => {
  it("odd but harmless requests get 4xx problem+json, not 5xx", async () => {
    const admin = await session(freshWs());
    const key = (await createKey(admin)).key;
    const requests: [string, string, { token?: string; body?: unknown; headers?: Record<string, string> }][] = [
      ["GET", "/v1/api-keys/%E0%A4%A", { token: admin }],
      ["GET", "/v1/api-keys/%00", { token: admin }],
      ["GET", `/v1/api-keys/${"k".repeat(5000)}`, { token: admin }],
      ["GET", "/v1/api-keys?limit=1e400", { token: admin }],
      ["GET", "/v1/api-keys?limit=99999999999999999999", { token: admin }],
      ["GET", "/v1/api-keys?limit=1&limit=2", { token: admin }],
      ["GET", "/v1/api-keys?status=active&status=revoked", { token: admin }],
      ["GET", `/v1/api-keys?cursor=${"A".repeat(500)}`, { token: admin }],
      ["GET", "/v1/api-keys?cursor=%FF", { token: admin }],
      ["POST", "/v1/api-keys", { token: admin, body: '{"name":"x","scopes":["sources:read"],"expiresAt":"9999999-01-01T00:00:00Z"}' }],
      ["POST", "/v1/api-keys", { token: admin, body: '{"name":"\\ud800","scopes":["sources:read"]}' }],
      ["POST", "/v1/api-keys", { token: admin, body: "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]" }],
      ["POST", "/v1/api-keys", { token: admin, body: '{"__proto__":{"admin":true},"name":"x","scopes":["sources:read"]}' }],
      ["GET", "/v1/sources?limit=abc", { token: key }],
      ["GET", `/v1/sources/${"s".repeat(5000)}`, { token: key }],
      ["POST", "/v1/sources", { token: key, body: { type: "ftp", name: "x" } }],
      ["PATCH", "/v1/sources/src_x", { token: key, body: {} }],
      ["GET", "/v1/key", { headers: { Authorization: `Bearer ${"x".repeat(20_000)}` } }],
    ];
    for (const [method, path, init] of requests) {
      const res = await call(method, path, init);
      const label = `${method} ${path.slice(0, 60)}`;
      expect(res.status, label).toBeLessThan(500);
      if (res.status >= 400) expect(res.headers.get("Content-Type"), label).toBe("application/problem+json");
    }
  });

  it("arbitrary JSON bodies on POST /v1/api-keys give 201 or 400, never 5xx", async () => {
    const admin = await session(freshWs());
    const scope = fc.constantFrom("sources:read", "sources:write", "sources:delete", "sources:admin", "", "SOURCES:READ");
    const body = fc.oneof(
      fc.jsonValue(),
      fc.record(
        {
          name: fc.oneof(fc.string({ maxLength: 120 }), fc.integer(), fc.constant(null)),
          scopes: fc.oneof(fc.array(scope, { maxLength: 4 }), fc.string(), fc.constant(null)),
          expiresAt: fc.oneof(
            fc.string(),
            fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
            fc.integer(),
            fc.constant(null),
          ),
        },
        { requiredKeys: [] },
      ),
    );
    await fc.assert(
      fc.asyncProperty(body, async (b) => {
        const res = await call("POST", "/v1/api-keys", { token: admin, body: JSON.stringify(b) });
        expect([201, 400]).toContain(res.status);
        if (res.status === 400) expect((await problem(res)).code).toBe("invalid_request");
        else await res.body?.cancel();
      }),
      { numRuns: 60 },
    );
  });
});
