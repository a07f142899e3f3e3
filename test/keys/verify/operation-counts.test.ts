import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, onTestFinished, vi } from "vitest";
import { DirectKeyStore, DirectUseWriter } from "../../../scripts/bench/naive-parts";
import { createApp } from "../../../src/app";
import type { Env, UseBatch } from "../../../src/env";
import { hashKey } from "../../../src/keys/format/hash";
import { generateKey } from "../../../src/keys/format/key";
import { CachedKeyStore, FEED_RETRY_MS, FEED_TRUST_MS, MAX_AGE_MS } from "../../../src/keys/verify/cached-key-store";
import { ChangeFeed, MAX_KEYS, REFRESH_AFTER_MS } from "../../../src/keys/verify/change-feed";
import { kvKey } from "../../../src/keys/verify/kv-copy";
import { parseOptions } from "../../../src/options";
import { WindowRateLimiter } from "../../../src/ratelimit/limiter";
import {
  counted,
  feedReads,
  fetchWith,
  gate,
  hangingD1,
  hangingKv,
  keyLookups,
  recorderStub,
  recordingD1,
  unreachableD1,
} from "../../support/bindings";
import { captureConsole, createKey, freezeClock, freshWs, session } from "../../support/helpers";
import { BASE, buildRequest, Isolate, locationCache } from "../../support/isolate";
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

/** This location's change feed, switchable to a read that never answers or one that fails at once (D1 hanging or down). */
function switchableFeed() {
  const real = new ChangeFeed({ cache: locationCache() });
  const state = { mode: "ok" as "ok" | "hang" | "fail", reads: 0 };
  const feed = {
    get refreshAfterMs() {
      return real.refreshAfterMs;
    },
    read: (...args: Parameters<ChangeFeed["read"]>) => {
      state.reads++;
      if (state.mode === "hang") return new Promise(() => {});
      if (state.mode === "fail") return Promise.reject(new Error("D1_ERROR: Network connection lost."));
      return real.read(...args);
    },
  } as unknown as ChangeFeed;
  return { feed, state };
}

const noWaitUntil = { waitUntil: (p: Promise<unknown>) => void p.catch(() => {}) };

describe("operation counts on the verification path", () => {
  it("a hot key costs no storage read per request: N requests, one KV read and one read of the change feed", async () => {
    freezeClock();
    const k = await createKey(await session(freshWs()));
    const d1 = recordingD1();
    const kv = counted(env.KEY_CACHE);
    const node = new Isolate();
    for (let i = 0; i < 200; i++) {
      expect((await node.settled({ DB: d1.binding, KEY_CACHE: kv.binding }, "GET", "/v1/key", { token: k.key })).status).toBe(200);
    }
    expect(keyLookups(d1.statements)).toEqual([]);
    expect(feedReads(d1.statements)).toHaveLength(1);
    expect(kv.calls.get).toBe(1);
  });

  it("the isolates of a location share one read of the change feed per refresh age, whatever their number", async () => {
    const clock = freezeClock();
    const k = await createKey(await session(freshWs()));
    const d1 = recordingD1();
    const isolates = [new Isolate(), new Isolate(), new Isolate()];
    const use = (node: Isolate) => node.settled({ DB: d1.binding }, "GET", "/v1/key", { token: k.key });
    for (const node of isolates) expect((await use(node)).status).toBe(200);
    const before = feedReads(d1.statements).length;
    const SECONDS = 10;
    for (let s = 0; s < SECONDS; s++) {
      clock.advance(REFRESH_AFTER_MS);
      for (const node of isolates) expect((await use(node)).status).toBe(200);
    }
    // One D1 read per refresh age for the location, not one per isolate: the others take the location's copy.
    expect(feedReads(d1.statements).length - before).toBe(SECONDS);
  });

  it("a new isolate waits for the change feed from its location's cache; only after the whole location was idle does it wait on D1", async () => {
    const clock = freezeClock();
    const k = await createKey(await session(freshWs()));
    const d1 = recordingD1();
    const use = (node: Isolate) => node.settled({ DB: d1.binding }, "GET", "/v1/key", { token: k.key }).then((r) => r.status);
    expect(await use(new Isolate())).toBe(200); // the location's snapshot is read from D1
    const atFirst = feedReads(d1.statements).length;
    clock.advance(FEED_TRUST_MS - 1);
    const cold = new Isolate();
    const before = d1.statements.length;
    expect(await use(cold)).toBe(200);
    // Answered from the location's copy, without a read of D1.
    expect(feedReads(d1.statements.slice(before))).toEqual([]);
    clock.advance(FEED_TRUST_MS);
    expect(await use(new Isolate())).toBe(200);
    expect(feedReads(d1.statements).length).toBeGreaterThan(atFirst);
  });

  it("a hot key never waits on storage: with D1 and KV hanging past the feed's refresh age, the memo answers", async () => {
    const clock = freezeClock();
    const k = await createKey(await session(freshWs()));
    const node = new Isolate();
    expect((await node.call("GET", "/v1/key", { token: k.key })).status).toBe(200);

    // KV and D1 now hang: a request that waited on either would never be
    // answered (and this test would time out instead of passing).
    const stuck = counted(hangingD1());
    clock.advance(REFRESH_AFTER_MS + 1);
    for (let i = 0; i < 20; i++) {
      const res = await node.fetch(buildRequest("GET", "/v1/key", { token: k.key }), { KEY_CACHE: hangingKv(), DB: stuck.binding });
      expect(res.status).toBe(200);
    }
    // One read of the feed under way (hanging) for all these requests, not one each.
    await vi.waitFor(() => expect(stuck.calls.prepare).toBe(1), { timeout: 10_000 });
    for (let i = 0; i < 5; i++) {
      const res = await node.fetch(buildRequest("GET", "/v1/key", { token: k.key }), { KEY_CACHE: hangingKv(), DB: stuck.binding });
      expect(res.status).toBe(200);
    }
    expect(stuck.calls.prepare).toBe(1);
  });

  it("a change feed that hangs never holds up a request: once its snapshot is too old to vouch, the isolate falls back instead of waiting", async () => {
    const clock = freezeClock();
    const k = await createKey(await session(freshWs()));
    const { feed, state } = switchableFeed();
    const node = new Isolate({ keys: { feed } });
    expect((await node.call("GET", "/v1/key", { token: k.key })).status).toBe(200);
    state.mode = "hang";
    // Far past the feed's trust age, within the fallback's: a request that
    // waited on the hanging read would never be answered (the test would time out).
    for (let t = 0; t < MAX_AGE_MS - 1_000; t += 500) {
      clock.advance(500);
      expect((await node.fetch(buildRequest("GET", "/v1/key", { token: k.key }), { KEY_CACHE: hangingKv() })).status).toBe(200);
    }
    expect(state.reads).toBe(2); // the first read, then one refresh under way behind the requests
  });

  it("while the change feed fails, it is tried again behind the requests once per FEED_RETRY_MS, not once per request", async () => {
    const clock = freezeClock();
    const k = await createKey(await session(freshWs()));
    const { feed, state } = switchableFeed();
    const node = new Isolate({ keys: { feed } });
    expect((await node.settled({}, "GET", "/v1/key", { token: k.key })).status).toBe(200);
    state.mode = "fail";
    const before = state.reads;
    const SECONDS = 25;
    for (let t = 0; t < SECONDS * 1_000; t += 250) {
      clock.advance(250);
      expect((await node.settled({}, "GET", "/v1/key", { token: k.key })).status).toBe(200);
    }
    // 100 requests; D1 is asked about once per FEED_RETRY_MS.
    expect(state.reads - before).toBeLessThanOrEqual((SECONDS * 1_000) / FEED_RETRY_MS + 1);
    expect(state.reads - before).toBeGreaterThanOrEqual((SECONDS * 1_000) / FEED_RETRY_MS - 1);
  });

  it("a read of the feed that began before a revoke in this isolate cannot bring the key back", async () => {
    const clock = freezeClock();
    const admin = await session(freshWs());
    const k = await createKey(admin);
    const node = new Isolate();
    expect((await node.call("GET", "/v1/key", { token: k.key })).status).toBe(200);

    // The feed's answer is read before the revoke and handed over after it.
    const held = gate();
    const slowFeed = {
      prepare: (sql: string) => {
        const statement = env.DB.prepare(sql);
        if (feedReads([sql]).length === 0) return statement;
        return {
          bind: (...values: unknown[]) => {
            const bound = statement.bind(...values);
            return {
              all: async () => {
                const answer = await bound.all();
                await held.pass();
                return answer;
              },
            };
          },
        };
      },
      batch: env.DB.batch.bind(env.DB),
    } as unknown as D1Database;
    clock.advance(REFRESH_AFTER_MS + 1);
    const ctx = createExecutionContext();
    expect((await node.fetch(buildRequest("GET", "/v1/key", { token: k.key }), { DB: slowFeed }, ctx)).status).toBe(200);
    await held.arrived(1); // it has read the key as active
    expect((await node.call("POST", `/v1/api-keys/${k.id}/revoke`, { token: admin })).status).toBe(200);
    held.open();
    await waitOnExecutionContext(ctx); // the old snapshot has landed
    expect((await node.call("GET", "/v1/key", { token: k.key })).status).toBe(401);
  });

  it("keys in use are not read again while nothing changes, and a change reaches them without a read: the feed carries it", async () => {
    const clock = freezeClock();
    const ws = freshWs();
    const admin = await session(ws);
    const keys = await seedKeys(ws, 120);
    const node = new Isolate();
    const use = async (key: string, overrides: Partial<Env> = {}) =>
      (await node.settled(overrides, "GET", "/v1/key", { token: key })).status;
    for (const k of keys) expect(await use(k.key)).toBe(200);

    // Ten minutes go by; the isolate keeps serving (one key), so it keeps following the feed.
    for (let s = 0; s < 300; s++) {
      clock.advance(2_000);
      expect(await use(keys[0]!.key)).toBe(200);
    }
    // One key is revoked by another isolate, in another location.
    expect(
      (await new Isolate({ location: "elsewhere" }).settled({}, "POST", `/v1/api-keys/${keys[7]!.id}/revoke`, { token: admin })).status,
    ).toBe(200);
    clock.advance(2_000);

    const d1 = recordingD1();
    const kv = counted(env.KEY_CACHE);
    for (const [i, k] of keys.entries()) expect(await use(k.key, { DB: d1.binding, KEY_CACHE: kv.binding })).toBe(i === 7 ? 401 : 200);
    // No key was read again, the revoked one included (the feed carried its new state), and the
    // feed itself was read once for the 120 requests.
    expect(kv.calls.get ?? 0).toBe(0);
    expect(keyLookups(d1.statements)).toEqual([]);
    expect(feedReads(d1.statements)).toHaveLength(1);
  });

  it("keys created in bulk (more than a snapshot names) leave the feed whole: keys in use are not read again, and the new keys work at once", async () => {
    const clock = freezeClock();
    const ws = freshWs();
    const keys = await seedKeys(ws, 20);
    const node = new Isolate();
    const use = async (key: string, overrides: Partial<Env> = {}) =>
      (await node.settled(overrides, "GET", "/v1/key", { token: key })).status;
    for (const k of keys) expect(await use(k.key)).toBe(200);

    // A provisioning script creates more keys than a snapshot names: their rows and change-log rows as the
    // write path makes them, none in KV yet (the courier has not run).
    const other = freshWs();
    const created = await seedKeys(other, MAX_KEYS + 100, {}, { kv: false });
    await env.DB.prepare(
      `INSERT INTO key_changes (key_id, workspace_id, version, kind, at, actor_id, kv_next_attempt_at)
       SELECT id, workspace_id, 1, 'created', ?2, 'usr_seed', ?2 FROM api_keys WHERE workspace_id = ?1`,
    )
      .bind(other, Date.now())
      .run();
    // Gone again afterwards: the courier would be busy delivering them during the next tests.
    onTestFinished(async () => {
      await env.DB.prepare("DELETE FROM key_changes WHERE workspace_id = ?").bind(other).run();
    });
    clock.advance(2_000);

    const d1 = recordingD1();
    const kv = counted(env.KEY_CACHE);
    for (const k of keys) expect(await use(k.key, { DB: d1.binding, KEY_CACHE: kv.binding })).toBe(200);
    expect(kv.calls.get ?? 0).toBe(0);
    expect(keyLookups(d1.statements)).toEqual([]);
    // A new key is served at once: KV has no copy, D1 has it.
    expect(await use(created[0]!.key)).toBe(200);
  });

  it("when the change feed cannot be read, a key is trusted for MAX_AGE_MS after the feed last vouched for it, then read from KV, and the isolate logs it", async () => {
    const clock = freezeClock();
    const admin = await session(freshWs());
    const k = await createKey(admin);
    const node = new Isolate();
    expect((await node.call("GET", "/v1/key", { token: k.key })).status).toBe(200);
    // Revoked elsewhere; the courier writes KV.
    expect((await new Isolate({ location: "elsewhere" }).settled({}, "POST", `/v1/api-keys/${k.id}/revoke`, { token: admin })).status).toBe(
      200,
    );

    const logs = captureConsole();
    const down = { DB: unreachableD1() };
    const use = () => node.settled(down, "GET", "/v1/key", { token: k.key }).then((r) => r.status);
    clock.advance(FEED_TRUST_MS + 1);
    expect(await use()).toBe(200); // the feed is unreadable: the fallback bound applies
    clock.advance(MAX_AGE_MS - FEED_TRUST_MS - 2);
    expect(await use()).toBe(200); // still within MAX_AGE_MS of the feed's last word
    clock.advance(2);
    expect(await use()).toBe(401); // past it: read again, from KV
    logs.restore();
    expect(logs.events().filter((e) => e.event === "change_feed_unreadable")).toHaveLength(1);
  });

  it("concurrent misses for one key share a single lookup", async () => {
    // A key with no change in the feed and no KV copy: KV then D1 answer.
    const [k] = await seedKeys(freshWs(), 1);
    await env.KEY_CACHE.delete(kvKey(hashKey(k!.key)));
    const d1 = recordingD1();
    const kv = counted(env.KEY_CACHE);
    const responses = await Promise.all(
      Array.from({ length: 25 }, () => fetchWith({ DB: d1.binding, KEY_CACHE: kv.binding }, "GET", "/v1/key", { token: k!.key })),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(25).fill(200));
    expect(kv.calls.get).toBe(1);
    // One D1 read answers all 25.
    expect(keyLookups(d1.statements)).toHaveLength(1);
  });

  it("a flood of made-up keys neither evicts real ones nor asks storage twice for one fake", async () => {
    freezeClock();
    const real = await createKey(await session(freshWs()));
    // Small memos: a flood larger than they hold then takes hundreds of lookups, not
    // thousands. The claim is about the bounds, whatever their size.
    const store = new CachedKeyStore({ maxKeys: 50, maxUnknown: 500, feed: new ChangeFeed({ cache: locationCache() }) });
    expect((await store.find(env, hashKey(real.key), noWaitUntil, BASE))?.id).toBe(real.id); // warm

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
    for (const h of fakes) expect(await store.find(emptyEnv, h, noWaitUntil, BASE)).toBeNull();
    // One D1 read per fake (the clock stands still: the change feed was read once, by the warm-up).
    expect({ d1Reads, kvReads }).toEqual({ d1Reads: fakes.length, kvReads: fakes.length });

    // Recent fakes are remembered as unknown: asking again costs nothing.
    for (const h of fakes.slice(-400)) await store.find(emptyEnv, h, noWaitUntil, BASE);
    expect(d1Reads).toBe(fakes.length);

    // The real key is still in memory: this storage would not know it.
    const found = await store.find(emptyEnv, hashKey(real.key), noWaitUntil, BASE);
    expect(found?.id).toBe(real.id);
    expect(d1Reads).toBe(fakes.length);
  });

  it("a hash remembered as unknown is asked again once its time is up", async () => {
    const clock = freezeClock();
    const store = new CachedKeyStore({ feed: new ChangeFeed({ cache: locationCache() }) });
    const admin = await session(freshWs());
    const key = generateKey();
    const hash = hashKey(key);
    // Seen before it existed (a lagging read, a client racing its own create): unknown.
    expect(await store.find(env, hash, noWaitUntil, BASE)).toBeNull();
    const k = await createKey(admin);
    await env.DB.prepare("UPDATE api_keys SET key_hash = ? WHERE id = ?").bind(hash, k.id).run();
    expect(await store.find(env, hash, noWaitUntil, BASE)).toBeNull(); // still within the unknown time
    clock.advance(3_001);
    expect((await store.find(env, hash, noWaitUntil, BASE))?.id).toBe(k.id);
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
