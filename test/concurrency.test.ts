import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { hashKey } from "../src/keys/format/hash";
import { kvKey } from "../src/keys/verify/kv-copy";
import { call, createKey, freshWs, session } from "./helpers";
import { BASE, buildRequest, freshIsolate, Isolate, isolate } from "./isolate";
import { counted, fetchWith, gate, hangingD1 } from "./worker";

/**
 * Concurrency, inside one isolate: the tests and the worker share
 * it, so "in that isolate" is literal here.
 */

const use = (key: string) => call("GET", "/v1/key", { token: key });
/** Lets the requests already started run up to their next I/O. */
const tick = () => new Promise((r) => setTimeout(r, 0));

describe("a revoke racing many uses of the same key", () => {
  it("once the revoke has returned, no later request in this isolate succeeds", async () => {
    for (let round = 0; round < 3; round++) {
      const admin = await session(freshWs());
      const k = await createKey(admin);
      // Cold: the first uses are still reading KV/D1 while the revoke runs.
      freshIsolate();
      const before: Promise<Response>[] = [];
      for (let i = 0; i < 50; i++) before.push(use(k.key));
      const revoking = call("POST", `/v1/api-keys/${k.id}/revoke`, { token: admin });
      const during: Promise<Response>[] = [];
      for (let i = 0; i < 50; i++) {
        during.push(use(k.key));
        if (i % 10 === 0) await tick();
      }
      expect((await revoking).status).toBe(200);

      const after = await Promise.all(Array.from({ length: 100 }, () => use(k.key)));
      for (const res of after) {
        expect(res.status).toBe(401);
        expect((await res.json<{ code: string }>()).code).toBe("revoked_api_key");
      }
      // Whatever raced the revoke got a definite answer: 200 or the revoked 401, never an error.
      for (const res of await Promise.all([...before, ...during])) expect([200, 401]).toContain(res.status);
      // And later still, sequentially, in case something stale was put back.
      for (let i = 0; i < 5; i++) expect((await use(k.key)).status).toBe(401);
    }
  });

  it("a lookup that read the active key before the revoke cannot put it back afterwards", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin);
    await use(k.key);
    freshIsolate();
    // A KV that answers with what it held *before* the revoke, but only once let go.
    const held = gate();
    const staleKv = new Proxy(env.KEY_CACHE, {
      get(target, prop) {
        if (prop === "get") {
          return async (name: string, options: KVNamespaceGetOptions<"json">) => {
            const stale = await target.get(name, options);
            await held.pass();
            return stale;
          };
        }
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const inFlight = Array.from({ length: 20 }, () => fetchWith({ KEY_CACHE: staleKv }, "GET", "/v1/key", { token: k.key }));
    // The lookup has read the active key and waits at the gate (the other requests share it).
    await held.arrived(1);

    expect((await call("POST", `/v1/api-keys/${k.id}/revoke`, { token: admin })).status).toBe(200);
    expect((await use(k.key)).status).toBe(401);
    held.open();
    // Each raced the revoke: the active key or the revoked 401, never an error.
    for (const res of await Promise.all(inFlight)) expect([200, 401]).toContain(res.status);
    // The stale reads finished after the revoke: they must not have revived the key.
    for (let i = 0; i < 10; i++) expect((await use(k.key)).status).toBe(401);
  });

  it("uses racing a revoke never leave an active copy in KV: only the courier writes KV, and it writes the latest state", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin);
    await env.KEY_CACHE.delete(kvKey(hashKey(k.key)));
    // Each of these reads D1 (KV has no copy) while the revoke runs.
    const uses = Array.from({ length: 20 }, () => {
      freshIsolate();
      return fetchWith({}, "GET", "/v1/key", { token: k.key });
    });
    const revoked = await isolate().settled({}, "POST", `/v1/api-keys/${k.id}/revoke`, { token: admin });
    expect(revoked.status).toBe(200);
    await Promise.all(uses); // fetchWith waits for each request's waitUntil work
    const cached = await env.KEY_CACHE.get<{ revokedAt: number | null }>(kvKey(hashKey(k.key)), "json");
    expect(cached?.revokedAt).toEqual(expect.any(Number));
    freshIsolate(); // a fresh isolate in this location
    expect((await use(k.key)).status).toBe(401);
  });
});

describe("a change this isolate makes while one of its lookups is in flight", () => {
  it("wins: the lookup answers with the changed key, and the memo keeps the change, not what the lookup read", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin); // KV holds the active key
    const hash = hashKey(k.key);
    const here = freshIsolate();
    const held = gate();
    const staleKv = {
      get: async (name: string, options: KVNamespaceGetOptions<"json">) => {
        const before = await env.KEY_CACHE.get(name, options);
        await held.pass();
        return before;
      },
      put: async () => {},
    } as unknown as KVNamespace;
    const ctx = { waitUntil: () => {} };
    const lookup = here.keys.find({ ...env, KEY_CACHE: staleKv }, hash, ctx, BASE);
    await held.arrived(1); // it has read the active key

    expect((await here.call("POST", `/v1/api-keys/${k.id}/revoke`, { token: admin })).status).toBe(200);
    held.open();
    expect((await lookup)?.revokedAt).toEqual(expect.any(Number));
    // Asked again, the store answers from its memo (no storage read) with the revoked key.
    const db = counted(env.DB);
    const kv = counted(env.KEY_CACHE);
    expect((await here.keys.find({ ...env, DB: db.binding, KEY_CACHE: kv.binding }, hash, ctx, BASE))?.revokedAt).toEqual(
      expect.any(Number),
    );
    expect({ ...db.calls, ...kv.calls }).toEqual({});
  });
});

describe("concurrent lookups of one hash", () => {
  it("a request waits on another's lookup at most sharedLookupWaitMs: a lookup that never ends holds no one else", async () => {
    const k = await createKey(await session(freshWs()));
    const here = new Isolate({ keys: { sharedLookupWaitMs: 50 } });
    // The first request's storage never answers (its I/O cut off with it, say).
    const stuck = gate();
    const stuckKv = { get: () => stuck.pass().then(() => null), put: () => new Promise(() => {}) } as unknown as KVNamespace;
    void here.fetch(buildRequest("GET", "/v1/key", { token: k.key }), { KEY_CACHE: stuckKv, DB: hangingD1() });
    await stuck.arrived(1);
    // A second request with healthy storage is answered (were it to wait for the first, this test would time out).
    const res = await here.call("GET", "/v1/key", { token: k.key });
    expect(res.status).toBe(200);
    expect((await res.json<{ id: string }>()).id).toBe(k.id);
  });
});

describe("concurrent revokes of one key", () => {
  it("leave one revokedAt, one revokedBy and one audit event", async () => {
    const ws = freshWs();
    const admins = await Promise.all(["usr_a", "usr_b", "usr_c", "usr_d"].map((sub) => session(ws, "admin", sub)));
    const k = await createKey(admins[0]!);
    const results = await Promise.all(admins.flatMap((token) => [1, 2].map(() => call("POST", `/v1/api-keys/${k.id}/revoke`, { token }))));
    const records = await Promise.all(results.map((r) => r.json<{ revokedAt: string; revokedBy: string }>()));
    expect(results.map((r) => r.status)).toEqual(Array(8).fill(200));
    expect(new Set(records.map((r) => r.revokedAt)).size).toBe(1);
    expect(new Set(records.map((r) => r.revokedBy)).size).toBe(1);

    const stored = await (await call("GET", `/v1/api-keys/${k.id}`, { token: admins[1]! })).json<{
      revokedAt: string;
      revokedBy: string;
    }>();
    expect(stored).toMatchObject({ revokedAt: records[0]!.revokedAt, revokedBy: records[0]!.revokedBy });
    const events = await (await call("GET", `/v1/audit-events?keyId=${k.id}`, { token: admins[0]! })).json<{
      data: { action: string; actorId: string }[];
    }>();
    const revokes = events.data.filter((e) => e.action === "api_key.revoked");
    expect(revokes).toHaveLength(1);
    expect(revokes[0]!.actorId).toBe(stored.revokedBy);
  });
});

describe("concurrent creates", () => {
  it("never collide: distinct ids, keys and hashes; every key works and is audited once", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    const N = 60;
    const created = await Promise.all(Array.from({ length: N }, (_, i) => createKey(admin, { name: `parallel ${i}` })));
    expect(new Set(created.map((k) => k.id)).size).toBe(N);
    expect(new Set(created.map((k) => k.key)).size).toBe(N);
    expect(new Set(created.map((k) => hashKey(k.key))).size).toBe(N);
    // Prefixes are for display and may in principle repeat; a prefix never identifies a key.

    const listed = await (await call("GET", "/v1/api-keys?limit=100", { token: admin })).json<{ data: { id: string }[] }>();
    expect(listed.data.map((k) => k.id).sort()).toEqual(created.map((k) => k.id).sort());
    const uses = await Promise.all(created.map((k) => use(k.key).then(async (r) => [r.status, (await r.json<{ id: string }>()).id])));
    expect(uses).toEqual(created.map((k) => [200, k.id]));
    const events = await (await call("GET", "/v1/audit-events?limit=100", { token: admin })).json<{ data: { keyId: string }[] }>();
    expect(events.data.map((e) => e.keyId).sort()).toEqual(created.map((k) => k.id).sort());
  });
});
