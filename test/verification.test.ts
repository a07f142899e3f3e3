import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { hashKey } from "../src/keys/format/hash";
import { kvKey } from "../src/keys/verify/kv-copy";
import { call, createKey, createSource, freezeClock, freshWs, problem, session } from "./helpers";
import { freshIsolate, isolate } from "./isolate";
import { seedKeys } from "./seed";
import { counted, d1FailingOnExecute, failingKv, feedReads, fetchWith, unreachableD1 } from "./worker";

const use = (key: string) => call("GET", "/v1/key", { token: key });

describe("revocation", () => {
  it("stops a warm key at once in the isolate and location that revoked it", async () => {
    const admin = await session("ws_rev");
    const k = await createKey(admin);
    for (let i = 0; i < 3; i++) expect((await use(k.key)).status).toBe(200);

    const revoked = await call("POST", `/v1/api-keys/${k.id}/revoke`, { token: admin });
    expect(revoked.status).toBe(200);

    const res = await use(k.key);
    expect(res.status).toBe(401);
    expect(res.headers.get("WWW-Authenticate")).toMatch(/^Bearer/);
    expect((await problem(res)).code).toBe("revoked_api_key");
  });

  it("is delivered to KV by the courier, so a fresh isolate refuses the key too", async () => {
    const admin = await session("ws_rev2");
    const k = await createKey(admin);
    await use(k.key);
    await isolate().settled({}, "POST", `/v1/api-keys/${k.id}/revoke`, { token: admin });
    const cached = await env.KEY_CACHE.get<{ revokedAt: number | null }>(kvKey(hashKey(k.key)), "json");
    expect(cached?.revokedAt).toEqual(expect.any(Number));
    freshIsolate(); // a fresh isolate: nothing in memory, KV answers
    expect((await problem(await use(k.key))).code).toBe("revoked_api_key");
  });

  it("is final: D1 keeps refusing the key when every cache is empty", async () => {
    const admin = await session("ws_rev3");
    const k = await createKey(admin);
    await call("POST", `/v1/api-keys/${k.id}/revoke`, { token: admin });
    await env.KEY_CACHE.delete(kvKey(hashKey(k.key)));
    freshIsolate();
    expect((await problem(await use(k.key))).code).toBe("revoked_api_key");
    const again = await call("POST", `/v1/api-keys/${k.id}/revoke`, { token: admin });
    expect((await again.json<{ revokedAt: string }>()).revokedAt).not.toBeNull();
    expect((await problem(await use(k.key))).code).toBe("revoked_api_key");
  });
});

describe("expiry", () => {
  it("accepts a key until expiresAt, then refuses it with expired_credentials", async () => {
    const clock = freezeClock();
    const admin = await session("ws_exp");
    const expiresAt = new Date(Date.now() + 60_000).toISOString();
    const k = await createKey(admin, { expiresAt });
    expect(k.expiresAt).toBe(expiresAt);
    expect((await use(k.key)).status).toBe(200);
    clock.advance(60_000 - 1);
    expect((await use(k.key)).status).toBe(200); // the last millisecond still counts
    clock.advance(1);
    const res = await use(k.key);
    expect(res.status).toBe(401);
    expect((await problem(res)).code).toBe("expired_credentials");
    // Still listed among active keys, marked by expiresAt.
    const list = await (await call("GET", "/v1/api-keys", { token: admin })).json<{ data: { id: string; expiresAt: string }[] }>();
    expect(list.data.find((x) => x.id === k.id)?.expiresAt).toBe(expiresAt);
  });
});

describe("lookup path", () => {
  it("answers from D1 when KV has no copy, and refills KV", async () => {
    // A key no recent change names (the change feed cannot answer for it).
    const [k] = await seedKeys("ws_fill", 1);
    const kvName = kvKey(hashKey(k!.key));
    await env.KEY_CACHE.delete(kvName);
    const res = await fetchWith({}, "GET", "/v1/key", { token: k!.key });
    expect(res.status).toBe(200);
    expect(await env.KEY_CACHE.get(kvName, "json")).toMatchObject({ id: k!.id, revokedAt: null });
  });

  it("falls back to D1 when KV fails", async () => {
    const admin = await session("ws_kvfail");
    const k = await createKey(admin);
    const res = await fetchWith({ KEY_CACHE: failingKv() }, "GET", "/v1/key", { token: k.key });
    expect(res.status).toBe(200);
  });

  it("reads neither KV nor D1 for a warm key", async () => {
    const admin = await session("ws_warm");
    const k = await createKey(admin);
    await fetchWith({}, "GET", "/v1/key", { token: k.key });
    const db = counted(env.DB);
    const kv = counted(env.KEY_CACHE);
    for (let i = 0; i < 20; i++) {
      const res = await fetchWith({ DB: db.binding, KEY_CACHE: kv.binding }, "GET", "/v1/key", { token: k.key });
      expect(res.status).toBe(200);
    }
    expect(db.calls).toEqual({});
    expect(kv.calls).toEqual({});
  });
});

describe("fail closed", () => {
  it("answers 503 unavailable, never 200, when D1 is unreachable and the key is not cached", async () => {
    const admin = await session("ws_down");
    const k = await createKey(admin);
    await env.KEY_CACHE.delete(kvKey(hashKey(k.key)));
    const res = await fetchWith({ DB: unreachableD1() }, "GET", "/v1/sources", { token: k.key });
    expect(res.status).toBe(503);
    const body = await problem(res);
    expect(body.code).toBe("unavailable");
    expect(JSON.stringify(body)).not.toMatch(/D1_ERROR|Network/);
  });

  it("answers 503 on key management when D1 is unreachable", async () => {
    const admin = await session("ws_down2");
    for (const [method, path, body] of [
      ["GET", "/v1/api-keys", undefined],
      ["POST", "/v1/api-keys", { name: "x", scopes: ["sources:read"] }],
      ["GET", "/v1/api-keys/key_abc", undefined],
      ["POST", "/v1/api-keys/key_abc/revoke", undefined],
    ] as const) {
      const res = await fetchWith({ DB: unreachableD1() }, method, path, { token: admin, body });
      expect(res.status, `${method} ${path}`).toBe(503);
      expect((await problem(res)).code).toBe("unavailable");
    }
  });

  it("a key this isolate never saw, not in KV, whose lookup fails: 503 on every public route, and no handler runs", async () => {
    const ws = freshWs();
    // A key no recent change names: only KV and D1 can vouch for it.
    const [k] = (await seedKeys(ws, 1)) as [{ id: string; key: string }];
    const existing = await createSource(k.key, { type: "text", name: "untouched", content: "as it was" });
    await env.KEY_CACHE.delete(kvKey(hashKey(k.key)));
    // D1 fails the key lookup only: every other statement would succeed, so a
    // handler reached without a verified key would answer (and write) for real.
    const failing = d1FailingOnExecute();
    const statements: string[] = [];
    const lookupDown = new Proxy(env.DB, {
      get(target, prop) {
        if (prop === "prepare") {
          return (sql: string) => {
            statements.push(sql);
            return sql.includes('"api_keys"') ? failing.prepare(sql) : target.prepare(sql);
          };
        }
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const routes: [string, string, unknown?][] = [
      ["GET", "/v1/key"],
      ["GET", "/v1/sources"],
      ["GET", `/v1/sources/${existing.id}`],
      ["POST", "/v1/sources", { type: "text", name: "written anyway", content: "x" }],
      ["PATCH", `/v1/sources/${existing.id}`, { name: "changed anyway" }],
      ["DELETE", `/v1/sources/${existing.id}`],
    ];
    for (const [method, path, body] of routes) {
      const here = freshIsolate();
      const res = await fetchWith({ DB: lookupDown }, method, path, { token: k.key, body });
      expect(res.status, `${method} ${path}`).toBe(503);
      expect((await problem(res)).code).toBe("unavailable");
      // Not even counted as a use: the key was never verified.
      expect(here.usage.unsent(ws, [k.id])).toEqual({});
    }
    // Every statement was the key lookup (or a read of the change feed); the sources are as they were.
    expect(statements.length).toBeGreaterThanOrEqual(routes.length);
    expect(statements.filter((sql) => !sql.includes('"api_keys"') && feedReads([sql]).length === 0)).toEqual([]);
    const stored = await env.DB.prepare("SELECT id, name FROM sources WHERE workspace_id = ?").bind(ws).all();
    expect(stored.results).toEqual([{ id: existing.id, name: "untouched" }]);
  });

  it("answers 503 on the sources API when the key verifies but D1 then fails", async () => {
    const admin = await session("ws_down3");
    const k = await createKey(admin);
    await use(k.key); // warm: verification needs no D1 now
    const res = await fetchWith({ DB: unreachableD1() }, "GET", "/v1/sources", { token: k.key });
    expect(res.status).toBe(503);
    expect((await problem(res)).code).toBe("unavailable");
  });
});
