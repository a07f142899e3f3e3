import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { DirectKeyStore, DirectUseWriter } from "../../../scripts/bench/naive-parts";
import { createApp } from "../../../src/app";
import type { Env, UseBatch } from "../../../src/env";
import { hashKey } from "../../../src/keys/format/hash";
import { generateKey } from "../../../src/keys/format/key";
import { CachedKeyStore, MAX_AGE_MS, REFRESH_AFTER_MS, REFRESH_SPREAD_MS } from "../../../src/keys/verify/cached-key-store";
import { kvKey } from "../../../src/keys/verify/kv-copy";
import { parseOptions } from "../../../src/options";
import { WindowRateLimiter } from "../../../src/ratelimit/limiter";
import { counted, fetchWith, hangingD1, recorderStub, unreachableD1 } from "../../support/bindings";
import { createKey, freezeClock, freshWs, session } from "../../support/helpers";
import { buildRequest, freshIsolate, Isolate, isolate } from "../../support/isolate";
import { seedKeys } from "../../support/seed";

/** Counts D1 statements prepared, KV reads and recorder messages while delegating to the real bindings. */
function countingEnv() {
  const db = counted(env.DB);
  const kv = counted(env.KEY_CACHE);
  const messages: UseBatch[][] = [];
  const ns = recorderStub((real) => ({
    record: (shard, batches) => {
      messages.push(batches);
      return real.record(shard, batches);
    },
  }));
  return { overrides: { DB: db.binding, KEY_CACHE: kv.binding, LAST_USED: ns }, db: db.calls, kv: kv.calls, messages };
}

const noWaitUntil = { waitUntil: (p: Promise<unknown>) => void p.catch(() => {}) };

describe("operation counts on the verification path", () => {
  it("N requests with a warm key: no D1 query and one KV read, however many requests", async () => {
    const k = await createKey(await session(freshWs()));
    const counts = countingEnv();
    const N = 200;
    for (let i = 0; i < N; i++) {
      expect((await fetchWith(counts.overrides, "GET", "/v1/key", { token: k.key })).status).toBe(200);
    }
    expect(counts.db.prepare ?? 0).toBe(0);
    expect(counts.db.batch ?? 0).toBe(0);
    expect(counts.kv.get).toBe(1);
  });

  it("a hot key never waits on storage: past the refresh age it is served while one background read refreshes it", async () => {
    const clock = freezeClock();
    const k = await createKey(await session(freshWs()));
    // A short gather time, so the test waits milliseconds, not the production second.
    freshIsolate({ keys: { refreshGatherMs: 20 } });
    const counts = countingEnv();
    expect((await fetchWith(counts.overrides, "GET", "/v1/key", { token: k.key })).status).toBe(200);
    expect(counts.kv.get).toBe(1);

    // KV and D1 now hang: a request that waited on either would never be
    // answered (and this test would time out instead of passing).
    let kvAsked = 0;
    const stuckKv = {
      get: () => {
        kvAsked++;
        return new Promise(() => {});
      },
      put: () => new Promise(() => {}),
    } as unknown as KVNamespace;
    clock.advance(REFRESH_AFTER_MS + REFRESH_SPREAD_MS);
    const ctx = createExecutionContext();
    for (let i = 0; i < 20; i++) {
      const res = await isolate().fetch(buildRequest("GET", "/v1/key", { token: k.key }), { KEY_CACHE: stuckKv, DB: hangingD1() }, ctx);
      expect(res.status).toBe(200);
    }
    // One refresh for twenty requests, not one per request (it starts once
    // the refresh gather time is over, after every request was answered).
    // The timeout only catches a hang: on a loaded machine a 20 ms timer can fire late.
    await vi.waitFor(() => expect(kvAsked).toBe(1), { timeout: 10_000 });
    // Uses while that refresh hangs do not start another one for the key.
    for (let i = 0; i < 20; i++) {
      const res = await isolate().fetch(buildRequest("GET", "/v1/key", { token: k.key }), { KEY_CACHE: stuckKv, DB: hangingD1() }, ctx);
      expect(res.status).toBe(200);
    }
    await new Promise((resolve) => setTimeout(resolve, 200)); // ten gather times: a second refresh would have started
    expect(kvAsked).toBe(1);
  });

  it("a refresh queued before a revoke in this isolate does not bring the key back", async () => {
    const clock = freezeClock();
    const admin = await session(freshWs());
    const k = await createKey(admin);
    const node = new Isolate({ keys: { refreshGatherMs: 50 } });
    expect((await node.call("GET", "/v1/key", { token: k.key })).status).toBe(200);

    // KV still holds the active copy when the refresh reads it: the revoke's
    // write has not landed there yet (or the location's edge cache is older).
    const laggingKv = { get: env.KEY_CACHE.get.bind(env.KEY_CACHE), put: async () => {} } as unknown as KVNamespace;
    const lagging = { KEY_CACHE: laggingKv };
    clock.advance(REFRESH_AFTER_MS + REFRESH_SPREAD_MS);
    const ctx = createExecutionContext();
    expect((await node.fetch(buildRequest("GET", "/v1/key", { token: k.key }), lagging, ctx)).status).toBe(200); // refresh queued
    const revoke = buildRequest("POST", `/v1/api-keys/${k.id}/revoke`, { token: admin });
    expect((await node.fetch(revoke, lagging)).status).toBe(200);
    await waitOnExecutionContext(ctx); // the refresh read the active copy
    expect((await node.fetch(buildRequest("GET", "/v1/key", { token: k.key }), lagging)).status).toBe(401);
  });

  it("keys due for a refresh are read from KV together, a hundred per read, and the refresh takes effect", async () => {
    const clock = freezeClock();
    const ws = freshWs();
    const admin = await session(ws);
    const keys = await seedKeys(ws, 150);
    const node = new Isolate(); // the default gather time (1 s): a full batch of 100 goes at once, the other 50 at the end of it
    const use = async (key: string, overrides: Partial<Env> = {}, ctx = createExecutionContext()) =>
      (await node.fetch(buildRequest("GET", "/v1/key", { token: key }), overrides, ctx)).status;
    for (const k of keys) expect(await use(k.key)).toBe(200);

    // Every tenth key is revoked elsewhere: KV and D1 change behind this isolate's back.
    const revoked = new Set(keys.filter((_, i) => i % 10 === 0).map((k) => k.id));
    for (const id of revoked) expect((await new Isolate().call("POST", `/v1/api-keys/${id}/revoke`, { token: admin })).status).toBe(200);

    clock.advance(REFRESH_AFTER_MS + REFRESH_SPREAD_MS);
    const counts = countingEnv();
    const ctx = createExecutionContext();
    // Still within the hard age: answered from the memo, refreshes queued.
    for (const k of keys) expect(await use(k.key, counts.overrides, ctx)).toBe(200);
    await waitOnExecutionContext(ctx);
    expect(counts.kv.get).toBe(2); // 100 + 50, not 150 reads
    expect(counts.db.prepare ?? 0).toBe(0);

    // The refreshed memo answers without storage, with what the refresh read.
    for (const k of keys) expect(await use(k.key, counts.overrides)).toBe(revoked.has(k.id) ? 401 : 200);
    expect(counts.kv.get).toBe(2);
  });

  it("a refresh keeps what KV answered when D1 fails for the rest; those fail closed past the hard age", async () => {
    const clock = freezeClock();
    const admin = await session(freshWs());
    const [a, b] = [await createKey(admin), await createKey(admin)];
    const node = new Isolate({ keys: { refreshGatherMs: 20 } });
    for (const k of [a, b]) expect((await node.call("GET", "/v1/key", { token: k.key })).status).toBe(200);
    // a is revoked elsewhere (D1 and KV); b's KV copy is gone, and D1 is down.
    expect((await new Isolate().call("POST", `/v1/api-keys/${a.id}/revoke`, { token: admin })).status).toBe(200);
    await env.KEY_CACHE.delete(kvKey(hashKey(b.key)));
    const down = { DB: unreachableD1() };
    const use = (k: { key: string }, ctx = createExecutionContext()) =>
      node.fetch(buildRequest("GET", "/v1/key", { token: k.key }), down, ctx).then((r) => r.status);

    clock.advance(REFRESH_AFTER_MS + REFRESH_SPREAD_MS);
    const ctx = createExecutionContext();
    expect([await use(a, ctx), await use(b, ctx)]).toEqual([200, 200]); // within the hard age: the memo answers
    await waitOnExecutionContext(ctx);
    expect(await use(a)).toBe(401); // KV's answer was kept
    expect(await use(b)).toBe(200); // still remembered, not yet past the hard age
    clock.advance(MAX_AGE_MS - REFRESH_AFTER_MS - REFRESH_SPREAD_MS + 1);
    expect(await use(b)).toBe(503); // past it: nothing can vouch for b
  });

  it("keys read together get refresh ages spread over the refresh window, not one shared moment", async () => {
    const clock = freezeClock();
    const keys = await seedKeys(freshWs(), 60);
    const node = new Isolate({ keys: { refreshGatherMs: 20 } });
    for (const k of keys) expect((await node.call("GET", "/v1/key", { token: k.key })).status).toBe(200);

    let refreshed = 0;
    const kv = {
      get: (keys: string | string[], options: KVNamespaceGetOptions<"json">) => {
        if (Array.isArray(keys)) refreshed += keys.length;
        return env.KEY_CACHE.get(keys as string[], options);
      },
      put: env.KEY_CACHE.put.bind(env.KEY_CACHE),
    } as unknown as KVNamespace;
    const useAll = async () => {
      const ctx = createExecutionContext();
      for (const k of keys)
        expect((await node.fetch(buildRequest("GET", "/v1/key", { token: k.key }), { KEY_CACHE: kv }, ctx)).status).toBe(200);
      await waitOnExecutionContext(ctx);
    };
    clock.advance(REFRESH_AFTER_MS - 1);
    await useAll();
    expect(refreshed).toBe(0); // none is due before the window opens
    clock.advance(REFRESH_SPREAD_MS / 2);
    await useAll();
    // Halfway through the window some are due and some are not (all on one side: 2 in 2^60).
    expect(refreshed).toBeGreaterThan(0);
    expect(refreshed).toBeLessThan(keys.length);
    clock.advance(REFRESH_SPREAD_MS / 2);
    await useAll();
    expect(refreshed).toBe(keys.length); // by the end of the window each was refreshed, once
  });

  it("a refresh whose bulk KV read fails is answered by D1, in one query for the batch", async () => {
    const clock = freezeClock();
    const admin = await session(freshWs());
    const keys: Awaited<ReturnType<typeof createKey>>[] = [];
    for (let i = 0; i < 5; i++) keys.push(await createKey(admin));
    const node = new Isolate(); // the default gather time (1 s): the five uses land in one batch
    for (const k of keys) expect((await node.call("GET", "/v1/key", { token: k.key })).status).toBe(200);
    // Revoked in D1 only, as if its KV copy were still on its way.
    await env.DB.prepare("UPDATE api_keys SET revoked_at = ? WHERE id = ?").bind(Date.now(), keys[0]!.id).run();

    clock.advance(REFRESH_AFTER_MS + REFRESH_SPREAD_MS);
    const failingKv = {
      get: async () => {
        throw new Error("KV GET failed: 503");
      },
      put: async () => {},
    } as unknown as KVNamespace;
    const queries: string[] = [];
    const db = {
      prepare: (sql: string) => {
        queries.push(sql);
        return env.DB.prepare(sql);
      },
      batch: env.DB.batch.bind(env.DB),
    } as D1Database;
    const ctx = createExecutionContext();
    for (const k of keys) {
      const res = await node.fetch(buildRequest("GET", "/v1/key", { token: k.key }), { KEY_CACHE: failingKv, DB: db }, ctx);
      expect(res.status).toBe(200);
    }
    await waitOnExecutionContext(ctx);
    // One query for the five keys (the rest are the KV refills' re-reads).
    expect(queries.filter((q) => / in \(\?, \?, \?, \?, \?\)/.test(q))).toHaveLength(1);
    expect((await node.fetch(buildRequest("GET", "/v1/key", { token: keys[0]!.key }), { KEY_CACHE: failingKv })).status).toBe(401);
    expect((await node.fetch(buildRequest("GET", "/v1/key", { token: keys[1]!.key }), { KEY_CACHE: failingKv })).status).toBe(200);
  });

  it("past the hard age the request waits for a fresh read, and sees a change made elsewhere", async () => {
    const clock = freezeClock();
    const admin = await session(freshWs());
    const k = await createKey(admin);
    const isolate = new Isolate();
    expect((await isolate.call("GET", "/v1/key", { token: k.key })).status).toBe(200);
    // Revoked by another isolate (or location): KV and D1 change behind this isolate's back.
    expect((await new Isolate().call("POST", `/v1/api-keys/${k.id}/revoke`, { token: admin })).status).toBe(200);
    clock.advance(MAX_AGE_MS + 1);
    expect((await isolate.call("GET", "/v1/key", { token: k.key })).status).toBe(401);
  });

  it("concurrent misses for one key share a single lookup", async () => {
    const k = await createKey(await session(freshWs()));
    await env.KEY_CACHE.delete(kvKey(hashKey(k.key)));
    const counts = countingEnv();
    const responses = await Promise.all(Array.from({ length: 25 }, () => fetchWith(counts.overrides, "GET", "/v1/key", { token: k.key })));
    expect(responses.map((r) => r.status)).toEqual(Array(25).fill(200));
    expect(counts.kv.get).toBe(1);
    // One D1 read answers all 25; the KV refill re-reads D1 once to close a race with revocation.
    expect(counts.db.prepare).toBeLessThanOrEqual(2);
  });

  it("a flood of made-up keys neither evicts real ones nor asks storage twice for one fake", async () => {
    const real = await createKey(await session(freshWs()));
    // Small memos: a flood larger than they hold then takes hundreds of lookups, not
    // thousands. The claim is about the bounds, whatever their size.
    const store = new CachedKeyStore({ maxKeys: 50, maxUnknown: 500 });
    expect((await store.find(env, hashKey(real.key), noWaitUntil))?.id).toBe(real.id); // warm

    // Storage that knows no key and counts what it is asked, so the flood
    // (more fakes than the unknown-hash memo holds) runs in seconds.
    let d1Reads = 0;
    let kvReads = 0;
    const emptyStatement = {
      bind: () => emptyStatement,
      raw: async () => [],
      all: async () => ({ results: [] }),
      first: async () => null,
    };
    const emptyEnv = {
      ...env,
      DB: {
        prepare: () => {
          d1Reads++;
          return emptyStatement;
        },
      } as unknown as D1Database,
      KEY_CACHE: {
        get: async () => {
          kvReads++;
          return null;
        },
        put: async () => {},
      } as unknown as KVNamespace,
    };
    const fakes = Array.from({ length: 600 }, () => hashKey(generateKey()));
    for (const h of fakes) expect(await store.find(emptyEnv, h, noWaitUntil)).toBeNull();
    expect({ d1Reads, kvReads }).toEqual({ d1Reads: fakes.length, kvReads: fakes.length });

    // Recent fakes are remembered as unknown: asking again costs nothing.
    for (const h of fakes.slice(-400)) await store.find(emptyEnv, h, noWaitUntil);
    expect(d1Reads).toBe(fakes.length);

    // The real key is still in memory: this storage would not know it.
    const found = await store.find(emptyEnv, hashKey(real.key), noWaitUntil);
    expect(found?.id).toBe(real.id);
    expect(d1Reads).toBe(fakes.length);
  });

  it("a hash remembered as unknown is asked again once its time is up", async () => {
    const clock = freezeClock();
    const store = new CachedKeyStore();
    const admin = await session(freshWs());
    const key = generateKey();
    const hash = hashKey(key);
    // Seen before it existed (a lagging read, a client racing its own create): unknown.
    expect(await store.find(env, hash, noWaitUntil)).toBeNull();
    const k = await createKey(admin);
    await env.DB.prepare("UPDATE api_keys SET key_hash = ? WHERE id = ?").bind(hash, k.id).run();
    expect(await store.find(env, hash, noWaitUntil)).toBeNull(); // still within the unknown time
    clock.advance(3_001);
    expect((await store.find(env, hash, noWaitUntil))?.id).toBe(k.id);
  });

  it("N requests over K keys in W workspaces: per window, an isolate sends the first use at once and all the others in one message", async () => {
    const clock = freezeClock();
    const K = 6;
    const W = 3;
    const WINDOW = 100;
    const workspaces = Array.from({ length: W }, () => freshWs());
    const keys: { key: string }[] = [];
    for (let i = 0; i < K; i++) keys.push(await createKey(await session(workspaces[i % W]!)));
    const counts = countingEnv();
    const isolate = new Isolate({ coalesceMs: WINDOW });
    // Warm: every key in the isolate's memo, so no request of a burst waits on storage.
    for (const k of keys) expect((await isolate.settled({}, "GET", "/v1/key", { token: k.key })).status).toBe(200);
    for (let burst = 0; burst < 3; burst++) {
      // Each burst starts a window of its own: the clock moved on since the last message.
      clock.advance(2 * WINDOW);
      const before = counts.messages.length;
      await Promise.all(
        Array.from({ length: 40 }, (_, i) => isolate.settled(counts.overrides, "GET", "/v1/key", { token: keys[i % K]!.key })),
      );
      const sent = counts.messages.slice(before);
      expect(sent, `burst ${burst}`).toHaveLength(2);
      const uses = (batches: UseBatch[]) => batches.flatMap((b) => b.uses);
      expect(uses(sent[0]!).map((u) => Object.values(u.days).reduce((a, n) => a + n, 0))).toEqual([1]);
      // The second carries the other 39 uses of every key and workspace of the burst.
      expect(new Set(uses(sent[1]!).map((u) => u.workspaceId))).toEqual(new Set(workspaces));
      expect(uses(sent[1]!).reduce((sum, u) => sum + Object.values(u.days).reduce((a, n) => a + n, 0), 0)).toBe(39);
    }
    // Every use arrived, counted once.
    const total = counts.messages
      .flat()
      .flatMap((b) => b.uses)
      .reduce((sum, u) => sum + Object.values(u.days).reduce((a, n) => a + n, 0), 0);
    expect(total).toBe(120);
  });

  it("the bench's no-cache baseline really reads and writes D1 on every request", async () => {
    const k = await createKey(await session(freshWs()));
    const counts = countingEnv();
    const naive = createApp({
      options: parseOptions(env),
      services: { keys: new DirectKeyStore(), usage: new DirectUseWriter(), limiter: new WindowRateLimiter() },
    });
    for (let i = 0; i < 5; i++) {
      const ctx = createExecutionContext();
      const res = await naive.fetch(buildRequest("GET", "/v1/key", { token: k.key }), { ...env, ...counts.overrides }, ctx);
      await waitOnExecutionContext(ctx);
      expect(res.status).toBe(200);
    }
    expect(counts.db.prepare).toBe(10); // one read and one last-used write each
    expect(counts.kv.get ?? 0).toBe(0);
    expect(counts.messages).toEqual([]);
  });

  it("a bad checksum costs no storage read at all", async () => {
    const counts = countingEnv();
    const good = generateKey();
    const bad = good.slice(0, -1) + (good.endsWith("A") ? "B" : "A");
    const res = await fetchWith(counts.overrides, "GET", "/v1/key", { token: bad });
    expect(res.status).toBe(401);
    expect({ ...counts.db, ...counts.kv }).toEqual({});
  });
});
