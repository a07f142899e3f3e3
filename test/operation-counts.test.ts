import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { generateKey } from "../src/keys/format";
import { hashKey } from "../src/keys/hash";
import { clearKeyMemo, findKeyByHash, kvKey, POSITIVE_TTL_MS } from "../src/keys/lookup";
import { createKey, session } from "./helpers";
import { counted, fetchWith } from "./worker";

/** Counts D1 statements prepared, KV reads and recorder messages while delegating to the real bindings. */
function countingEnv() {
  const db = counted(env.DB);
  const kv = counted(env.KEY_CACHE);
  const messages: Record<string, number> = {};
  const ns = {
    idFromName: (name: string) => env.LAST_USED.idFromName(name),
    get: (id: DurableObjectId) => {
      const real = env.LAST_USED.get(id);
      return {
        touch: (ws: string, uses: Record<string, number>) => {
          messages[ws] = (messages[ws] ?? 0) + 1;
          return real.touch(ws, uses);
        },
        latest: (ids: string[]) => real.latest(ids),
      };
    },
  } as unknown as typeof env.LAST_USED;
  return { overrides: { DB: db.binding, KEY_CACHE: kv.binding, LAST_USED: ns }, db: db.calls, kv: kv.calls, messages };
}

const noWaitUntil = { waitUntil: (p: Promise<unknown>) => void p.catch(() => {}) };

beforeEach(() => clearKeyMemo());
afterEach(() => vi.useRealTimers());

describe("operation counts on the verification path", () => {
  it("N requests with a warm key: no D1 query, at most one KV read per memo TTL", async () => {
    const admin = await session("ws_ops1");
    const k = await createKey(admin);
    const counts = countingEnv();
    const N = 200;
    for (let i = 0; i < N; i++) {
      expect((await fetchWith(counts.overrides, "GET", "/v1/key", { token: k.key })).status).toBe(200);
    }
    expect(counts.db.prepare ?? 0).toBe(0);
    expect(counts.db.batch ?? 0).toBe(0);
    expect(counts.kv.get).toBe(1);

    // Once the memo entry's time to live has passed, exactly one more KV read.
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + POSITIVE_TTL_MS + 1 });
    for (let i = 0; i < N; i++) await fetchWith(counts.overrides, "GET", "/v1/key", { token: k.key });
    expect(counts.kv.get).toBe(2);
    expect(counts.db.prepare ?? 0).toBe(0);
  });

  it("concurrent misses for one key share a single lookup", async () => {
    const admin = await session("ws_ops2");
    const k = await createKey(admin);
    await env.KEY_CACHE.delete(kvKey(hashKey(k.key)));
    const counts = countingEnv();
    const responses = await Promise.all(
      Array.from({ length: 25 }, () => fetchWith(counts.overrides, "GET", "/v1/key", { token: k.key })),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(25).fill(200));
    expect(counts.kv.get).toBe(1);
    // One D1 read answers all 25; the KV refill re-reads D1 once to close a race with revocation.
    expect(counts.db.prepare).toBeLessThanOrEqual(2);
  });

  it("a flood of made-up keys neither evicts real ones nor asks storage twice for one fake", async () => {
    const admin = await session("ws_ops3");
    const real = await createKey(admin);
    await fetchWith({}, "GET", "/v1/key", { token: real.key }); // warm

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
      DB: { prepare: () => (d1Reads++, emptyStatement) } as unknown as D1Database,
      KEY_CACHE: { get: async () => (kvReads++, null), put: async () => {} } as unknown as KVNamespace,
    };
    const fakes = Array.from({ length: 6_000 }, () => hashKey(generateKey()));
    for (const h of fakes) expect(await findKeyByHash(emptyEnv, h, noWaitUntil)).toBeNull();
    expect({ d1Reads, kvReads }).toEqual({ d1Reads: fakes.length, kvReads: fakes.length });

    // Recent fakes are remembered as unknown: asking again costs nothing.
    for (const h of fakes.slice(-1_000)) await findKeyByHash(emptyEnv, h, noWaitUntil);
    expect(d1Reads).toBe(fakes.length);

    // The real key is still in memory: this storage would not know it.
    const found = await findKeyByHash(emptyEnv, hashKey(real.key), noWaitUntil);
    expect(found?.id).toBe(real.id);
    expect(d1Reads).toBe(fakes.length);
  });

  it("N requests over K keys in K workspaces send at most K recorder messages per window", async () => {
    const K = 4;
    const W = 800;
    const keys = [];
    for (let i = 0; i < K; i++) keys.push(await createKey(await session(`ws_ops4_${i}`)));
    const counts = countingEnv();
    const sentAt: number[] = [];
    const overrides = {
      ...counts.overrides,
      LAST_USED_COALESCE_MS: String(W),
      LAST_USED: {
        idFromName: counts.overrides.LAST_USED.idFromName,
        get: (id: DurableObjectId) => {
          const stub = counts.overrides.LAST_USED.get(id);
          return { touch: (ws: string, uses: Record<string, number>) => (sentAt.push(Date.now()), stub.touch(ws, uses)) };
        },
      } as unknown as typeof env.LAST_USED,
    };
    const start = Date.now();
    const requests = [];
    for (let i = 0; i < 200; i++) {
      requests.push(fetchWith(overrides, "GET", "/v1/key", { token: keys[i % K]!.key }));
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, W / 2));
    }
    await Promise.all(requests);
    const perWindow = new Map<number, number>();
    for (const t of sentAt) {
      const w = Math.floor((t - start) / W);
      perWindow.set(w, (perWindow.get(w) ?? 0) + 1);
    }
    for (const n of perWindow.values()) expect(n).toBeLessThanOrEqual(K);
    expect(sentAt.length).toBeLessThan(200 / 10);
    expect(Object.keys(counts.messages).sort()).toEqual(keys.map((_, i) => `ws_ops4_${i}`).sort());
  }, 20_000);

  it("the bench's no-cache baseline really reads and writes D1 on every request", async () => {
    const admin = await session("ws_ops5");
    const k = await createKey(admin);
    const counts = countingEnv();
    const naive = { ...counts.overrides, BENCH_DISABLE_CACHE: "1" };
    for (let i = 0; i < 5; i++) expect((await fetchWith(naive, "GET", "/v1/key", { token: k.key })).status).toBe(200);
    expect(counts.db.prepare).toBe(10); // one read and one last-used write each
    expect(counts.kv.get ?? 0).toBe(0);
    expect(counts.messages).toEqual({});
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
