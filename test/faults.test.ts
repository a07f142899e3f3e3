import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { hashKey } from "../src/keys/format/hash";
import { generateKey } from "../src/keys/format/key";
import { kvKey } from "../src/keys/verify/kv-copy";
import { call, captureConsole, createKey, freezeClock, freshWs, problem, session } from "./helpers";
import { freshIsolate, isolate } from "./isolate";
import {
  d1FailingOnExecute,
  fetchWith,
  gate,
  hangingKv,
  kvReturning,
  recorderStub,
  throwingKv,
  unreachableD1,
  unreachableRecorder,
} from "./worker";

const KV_READ_TIMEOUT_MS = 500;

/**
 * Storage faults, inside workerd with replaced bindings. The older
 * fault tests live beside the features they guard: KV failing and D1 down in
 * verification.test.ts, recorder eviction and failed flushes in
 * last-used.test.ts.
 */

let logs: ReturnType<typeof captureConsole>;
beforeEach(() => {
  logs = captureConsole();
});
afterEach(() => logs.restore());

/**
 * The worker's fetch handler, resolved as soon as the response is ready, without
 * waiting for its waitUntil work (which may be stuck on the very binding that hangs).
 */
async function responseOf(overrides: Partial<typeof env>, path: string, key: string): Promise<Response> {
  const request = new Request(`https://owlish.test${path}`, { headers: { Authorization: `Bearer ${key}` } });
  return isolate().fetch(request, overrides);
}

describe("KV misbehaves: D1 answers", () => {
  it("a KV read that hangs: the read is given up after kvReadTimeoutMs and D1 answers", async () => {
    const k = await createKey(await session(freshWs()));
    // Were the read not given up, this request would never be answered and the test would time out.
    const res = await responseOf({ KEY_CACHE: hangingKv() }, "/v1/key", k.key);
    expect(res.status).toBe(200);
    expect((await res.json<{ id: string }>()).id).toBe(k.id);
    expect(logs.events()).toContainEqual(
      expect.objectContaining({ event: "kv_read_failed", error: `KV read timed out after ${KV_READ_TIMEOUT_MS} ms` }),
    );
  });

  it("a hanging KV still refuses a revoked key (from D1)", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin);
    await call("POST", `/v1/api-keys/${k.id}/revoke`, { token: admin });
    freshIsolate();
    const res = await responseOf({ KEY_CACHE: hangingKv() }, "/v1/key", k.key);
    expect((await problem(res)).code).toBe("revoked_api_key");
  });

  it("a KV binding that throws synchronously: the request succeeds from D1", async () => {
    const k = await createKey(await session(freshWs()));
    const res = await fetchWith({ KEY_CACHE: throwingKv() }, "GET", "/v1/sources", { token: k.key });
    expect(res.status).toBe(200);
  });

  it("a damaged KV entry is a miss, never trusted and never a 500", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin);
    for (const damaged of [
      {},
      "text",
      42,
      [],
      { id: k.id, revokedAt: null },
      { id: k.id, workspaceId: "ws_other", name: "x", prefix: "p", scopes: "sources:read", expiresAt: null, revokedAt: null },
    ]) {
      freshIsolate();
      const res = await fetchWith({ KEY_CACHE: kvReturning(damaged) }, "GET", "/v1/key", { token: k.key });
      expect(res.status, JSON.stringify(damaged)).toBe(200);
      expect((await res.json<{ workspaceId: string }>()).workspaceId).not.toBe("ws_other");
    }
    expect(logs.events()).toContainEqual(expect.objectContaining({ event: "kv_record_invalid" }));
  });

  it("a damaged real KV entry is repaired from D1", async () => {
    const k = await createKey(await session(freshWs()));
    await env.KEY_CACHE.put(kvKey(hashKey(k.key)), JSON.stringify({ broken: true }));
    expect((await fetchWith({}, "GET", "/v1/key", { token: k.key })).status).toBe(200);
    expect(await env.KEY_CACHE.get(kvKey(hashKey(k.key)), "json")).toMatchObject({ id: k.id, revokedAt: null });
  });
});

describe("D1 down: not one request is let through unverified", () => {
  const routes: [string, string, unknown?][] = [
    ["GET", "/v1/key"],
    ["GET", "/v1/sources"],
    ["GET", "/v1/sources/src_any"],
    ["POST", "/v1/sources", { type: "url", name: "x", url: "https://example.com" }],
    ["PATCH", "/v1/sources/src_any", { name: "y" }],
    ["DELETE", "/v1/sources/src_any"],
  ];

  it("answers 503 (or a refusal) on every public route, for every credential that needs D1, whichever way D1 fails", async () => {
    const clock = freezeClock();
    const admin = await session(freshWs());
    const valid = await createKey(admin);
    const revoked = await createKey(admin);
    await call("POST", `/v1/api-keys/${revoked.id}/revoke`, { token: admin });
    const expired = await createKey(admin, { expiresAt: new Date(Date.now() + 60_000).toISOString() });
    clock.advance(60_000);
    const credentials = {
      valid: valid.key,
      revoked: revoked.key,
      expired: expired.key,
      unknown: generateKey(),
      malformed: "sk_live_notakey",
    };
    // Nothing cached: every key needs D1 to be verified.
    for (const key of Object.values(credentials)) await env.KEY_CACHE.delete(kvKey(hashKey(key)));

    for (const down of [unreachableD1, d1FailingOnExecute]) {
      for (const kv of [() => env.KEY_CACHE, throwingKv]) {
        for (const [name, key] of Object.entries(credentials)) {
          for (const [method, path, body] of routes) {
            freshIsolate();
            const res = await fetchWith({ DB: down(), KEY_CACHE: kv() }, method, path, { token: key, body });
            const what = `${down.name} ${name} ${method} ${path}`;
            expect(res.status, what).not.toBeLessThan(400);
            const body_ = await problem(res);
            if (name === "malformed") expect(body_.code, what).toBe("invalid_credentials");
            else {
              expect(res.status, what).toBe(503);
              expect(body_.code).toBe("unavailable");
              expect(res.headers.get("Retry-After")).toBe("1");
            }
          }
        }
      }
    }
  });

  it("still answers from KV what KV knows: a cached valid key passes verification, a cached revoked key is refused", async () => {
    const admin = await session(freshWs());
    const valid = await createKey(admin);
    const revoked = await createKey(admin);
    await fetchWith({}, "GET", "/v1/key", { token: valid.key }); // KV holds it
    await call("POST", `/v1/api-keys/${revoked.id}/revoke`, { token: admin }); // KV holds the revoked state
    freshIsolate();
    const ok = await fetchWith({ DB: unreachableD1() }, "GET", "/v1/key", { token: valid.key });
    expect(ok.status).toBe(200);
    expect((await ok.json<{ id: string }>()).id).toBe(valid.id);
    // Sources need D1 for the data itself.
    expect((await fetchWith({ DB: unreachableD1() }, "GET", "/v1/sources", { token: valid.key })).status).toBe(503);
    freshIsolate();
    expect((await problem(await fetchWith({ DB: unreachableD1() }, "GET", "/v1/key", { token: revoked.key }))).code).toBe(
      "revoked_api_key",
    );
  });

  it("answers 503 on every admin route, audit events included, and never leaks the storage error", async () => {
    const admin = await session(freshWs());
    for (const [method, path, body] of [
      ["GET", "/v1/api-keys"],
      ["GET", "/v1/api-keys?status=revoked"],
      ["POST", "/v1/api-keys", { name: "x", scopes: ["sources:read"] }],
      ["GET", "/v1/api-keys/key_x"],
      ["POST", "/v1/api-keys/key_x/revoke"],
      ["GET", "/v1/audit-events"],
      ["GET", "/v1/audit-events?keyId=key_x"],
    ] as [string, string, unknown?][]) {
      for (const down of [unreachableD1, d1FailingOnExecute]) {
        const res = await fetchWith({ DB: down() }, method, path, { token: admin, body });
        expect(res.status, `${method} ${path}`).toBe(503);
        const text = await res.text();
        expect(text).not.toMatch(/D1_ERROR|Network connection|at .*:\d+/);
      }
    }
    // The cause is in the logs, for us.
    expect(logs.events()).toContainEqual(expect.objectContaining({ event: "storage_error", error: expect.stringContaining("D1_ERROR") }));
  });

  it("a hanging KV plus a D1 that is down: 503, not a request left hanging", async () => {
    const k = await createKey(await session(freshWs()));
    const res = await responseOf({ KEY_CACHE: hangingKv(), DB: unreachableD1() }, "/v1/key", k.key);
    expect(res.status).toBe(503);
    expect((await problem(res)).code).toBe("unavailable");
  });
});

describe("the last-used Durable Object fails: the request does not", () => {
  const recorderLogged = () =>
    expect(logs.events()).toContainEqual(expect.objectContaining({ level: "error", event: "last_used_report_failed", shard: 0 }));

  it("record() throws: 200, and the failure is logged with the shard", async () => {
    const ws = freshWs();
    const k = await createKey(await session(ws));
    const throwing = recorderStub({ record: () => Promise.reject(new Error("Durable Object reset because its code was updated.")) });
    const res = await fetchWith({ LAST_USED: throwing }, "GET", "/v1/key", { token: k.key });
    expect(res.status).toBe(200);
    recorderLogged();
    const line = logs.events().find((l) => l.event === "last_used_report_failed");
    expect(JSON.stringify(line)).not.toContain(k.key);
  });

  it("the namespace is unreachable (get throws synchronously): 200, logged", async () => {
    const ws = freshWs();
    const k = await createKey(await session(ws));
    const res = await fetchWith({ LAST_USED: unreachableRecorder() }, "GET", "/v1/sources", { token: k.key });
    expect(res.status).toBe(200);
    recorderLogged();
  });

  it("record() hangs: the response is not held back by it", async () => {
    const k = await createKey(await session(freshWs()));
    const never = gate(); // never opened
    const hanging = recorderStub({ record: () => never.pass() });
    await fetchWith({}, "GET", "/v1/key", { token: k.key }); // warm
    const res = await responseOf({ LAST_USED: hanging }, "/v1/key", k.key);
    expect(res.status).toBe(200);
    // The message was sent and is still hanging, yet the answer is out.
    await never.arrived(1);
    expect(never.arrivals).toBe(1);
  });
});
