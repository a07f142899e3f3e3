import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { UseBatch } from "../src/env";
import { CoalescingReporter } from "../src/usage/coalescing-reporter";
import { type LastUsedRecorder, MAX_ROWS_PER_FLUSH } from "../src/usage/last-used-recorder";
import { recorderShard } from "../src/usage/recorder-protocol";
import { call, createKey, freezeClock, freshWs, session } from "./helpers";
import { freshIsolate, isolate } from "./isolate";
import { counted, fetchWith, gate, recorderStub, unreachableD1 } from "./worker";

/** The shard this test's isolate reports to (tests pin isolates to shard 0 unless they say otherwise). */
const shard = (n = 0) => recorderShard(env, n);

/** The uses a shard holds but has not flushed to D1 (key id → epoch ms), read from its storage. */
const pending = (n = 0) =>
  runInDurableObject(shard(n), (_instance, state) =>
    Object.fromEntries(
      state.storage.sql
        .exec<{ key_id: string; used_at: number }>("SELECT key_id, used_at FROM uses")
        .toArray()
        .map((r) => [r.key_id, r.used_at]),
    ),
  );

/** Empties a shard's storage, so each test starts from a flushed recorder. */
const flushAll = async (n = 0) => {
  while (await runDurableObjectAlarm(shard(n)));
};

async function record(admin: string, id: string) {
  const res = await call("GET", `/v1/api-keys/${id}`, { token: admin });
  return res.json<{ lastUsedAt: string | null; lastUsedIp: string | null; lastUsedCountry: string | null }>();
}

async function storedLastUsed(id: string) {
  return env.DB.prepare("SELECT last_used_at, last_used_ip, last_used_country FROM api_keys WHERE id = ?")
    .bind(id)
    .first<{ last_used_at: number | null; last_used_ip: string | null; last_used_country: string | null }>();
}

const batch = (uses: UseBatch["uses"], id: string = crypto.randomUUID()): UseBatch => ({ id, uses });
const use = (keyId: string, workspaceId: string, at: number, ip: string | null = null) => ({
  keyId,
  workspaceId,
  at,
  ip,
  country: null,
  days: { [new Date(at).toISOString().slice(0, 10)]: 1 },
});

describe("last used", () => {
  it("is null for a new key, then shows the latest use, its address, after a flush", async () => {
    await flushAll();
    const admin = await session(freshWs());
    const k = await createKey(admin);
    expect((await record(admin, k.id)).lastUsedAt).toBeNull();

    const before = Date.now();
    const res = await fetchWith({}, "GET", "/v1/key", { token: k.key, headers: { "CF-Connecting-IP": "203.0.113.7" } });
    expect(res.status).toBe(200);
    const recorded = (await pending())[k.id];
    expect(recorded).toBeGreaterThanOrEqual(before);
    expect((await storedLastUsed(k.id))?.last_used_at).toBeNull();

    expect(await runDurableObjectAlarm(shard())).toBe(true);
    expect(await storedLastUsed(k.id)).toEqual({ last_used_at: recorded, last_used_ip: "203.0.113.7", last_used_country: null });
    expect(await record(admin, k.id)).toMatchObject({
      lastUsedAt: new Date(recorded!).toISOString(),
      lastUsedIp: "203.0.113.7",
      lastUsedCountry: null,
    });
    expect(await pending()).toEqual({});
  });

  it("writes every pending key of every workspace of a shard in one D1 batch", async () => {
    await flushAll();
    const keys = [];
    for (let i = 0; i < 4; i++) keys.push(await createKey(await session(freshWs())));
    for (const k of keys) await fetchWith({}, "GET", "/v1/key", { token: k.key });
    expect(Object.keys(await pending()).sort()).toEqual(keys.map((k) => k.id).sort());

    const d1 = counted(env.DB);
    await runInDurableObject(shard(), (instance: LastUsedRecorder) => {
      (instance as unknown as { env: typeof env }).env = { ...env, DB: d1.binding };
    });
    expect(await runDurableObjectAlarm(shard())).toBe(true);
    expect(d1.calls.batch).toBe(1);
    for (const k of keys) expect((await storedLastUsed(k.id))?.last_used_at).not.toBeNull();
    await runInDurableObject(shard(), (instance: LastUsedRecorder) => {
      (instance as unknown as { env: typeof env }).env = env;
    });
  });

  it("a flush is one batch of three statements whatever its rows; rows past the cap wait for the next flush", async () => {
    await flushAll(5);
    const ws = freshWs();
    const at = Date.now();
    const uses = Array.from({ length: MAX_ROWS_PER_FLUSH + 1 }, (_, i) => use(`key_flush_${String(i).padStart(5, "0")}`, ws, at));
    await shard(5).record(5, [batch(uses)]);

    const d1 = counted(env.DB);
    await runInDurableObject(shard(5), (instance: LastUsedRecorder) => {
      (instance as unknown as { env: typeof env }).env = { ...env, DB: d1.binding };
    });
    const written = async () =>
      (await env.DB.prepare("SELECT count(*) AS n FROM key_usage_daily WHERE workspace_id = ?").bind(ws).first<{ n: number }>())!.n;
    expect(await runDurableObjectAlarm(shard(5))).toBe(true);
    expect(d1.calls).toEqual({ prepare: 3, batch: 1 });
    expect(await written()).toBe(MAX_ROWS_PER_FLUSH);
    expect(Object.keys(await pending(5))).toHaveLength(1);

    expect(await runDurableObjectAlarm(shard(5))).toBe(true);
    expect(await written()).toBe(MAX_ROWS_PER_FLUSH + 1);
    expect(await pending(5)).toEqual({});
    await runInDurableObject(shard(5), (instance: LastUsedRecorder) => {
      (instance as unknown as { env: typeof env }).env = env;
    });
  });

  it("only moves forward, in the recorder and in D1, with the address of the latest use", async () => {
    await flushAll(1);
    const ws = freshWs();
    const k = await createKey(await session(ws));
    const t = Date.parse("2026-06-01T12:00:00.000Z");
    await shard(1).record(1, [batch([use(k.id, ws, t, "198.51.100.1")])]);
    await shard(1).record(1, [batch([use(k.id, ws, t - 60_000, "198.51.100.2")])]);
    expect((await pending(1))[k.id]).toBe(t);
    await runDurableObjectAlarm(shard(1));
    expect(await storedLastUsed(k.id)).toMatchObject({ last_used_at: t, last_used_ip: "198.51.100.1" });

    // An older report arriving after a newer flush never moves D1 back.
    await shard(1).record(1, [batch([use(k.id, ws, t - 3_600_000, "198.51.100.3")])]);
    await runDurableObjectAlarm(shard(1));
    expect(await storedLastUsed(k.id)).toMatchObject({ last_used_at: t, last_used_ip: "198.51.100.1" });
  });

  it("never touches another workspace's key, whatever a message claims", async () => {
    await flushAll(2);
    const adminA = await session(freshWs());
    const k = await createKey(adminA);
    await shard(2).record(2, [batch([use(k.id, freshWs(), Date.now())])]);
    await runDurableObjectAlarm(shard(2));
    expect((await storedLastUsed(k.id))?.last_used_at).toBeNull();
    expect((await record(adminA, k.id)).lastUsedAt).toBeNull();
  });

  it("keeps uses across an eviction between message and flush", async () => {
    await flushAll();
    const k = await createKey(await session(freshWs()));
    await fetchWith({}, "GET", "/v1/key", { token: k.key });
    const before = await pending();
    await evictDurableObject(shard());
    expect(await pending()).toEqual(before);
    expect(await runDurableObjectAlarm(shard())).toBe(true);
    expect((await storedLastUsed(k.id))?.last_used_at).toBe(before[k.id]);
  });

  it("keeps the data of a failed flush and retries it", async () => {
    await flushAll();
    const k = await createKey(await session(freshWs()));
    await fetchWith({}, "GET", "/v1/key", { token: k.key });
    await runInDurableObject(shard(), (instance: LastUsedRecorder) => {
      (instance as unknown as { env: typeof env }).env = { ...env, DB: unreachableD1() };
    });
    expect(await runDurableObjectAlarm(shard())).toBe(true);
    expect(Object.keys(await pending())).toEqual([k.id]);
    const retryAt = await runInDurableObject(shard(), (_i, state) => state.storage.getAlarm());
    expect(retryAt).not.toBeNull();

    await runInDurableObject(shard(), (instance: LastUsedRecorder) => {
      (instance as unknown as { env: typeof env }).env = env;
    });
    expect(await runDurableObjectAlarm(shard())).toBe(true);
    expect((await storedLastUsed(k.id))?.last_used_at).not.toBeNull();
    expect(await pending()).toEqual({});
  });

  it("schedules the next flush no sooner than LAST_USED_FLUSH_SECONDS after the last", async () => {
    await flushAll(3);
    const ws = freshWs();
    const k = await createKey(await session(ws));
    await shard(3).record(3, [batch([use(k.id, ws, Date.now())])]);
    await runDurableObjectAlarm(shard(3));
    const flushedAt = Date.now();
    await shard(3).record(3, [batch([use(k.id, ws, Date.now() + 1)])]);
    const next = await runInDurableObject(shard(3), (_i, state) => state.storage.getAlarm());
    expect(next).toBeGreaterThanOrEqual(flushedAt + Number(env.LAST_USED_FLUSH_SECONDS) * 1000 - 1000);
  });

  it("applies a batch once, however often it arrives", async () => {
    await flushAll(4);
    const ws = freshWs();
    const k = await createKey(await session(ws));
    const resent = batch([use(k.id, ws, Date.now())]);
    await shard(4).record(4, [resent]);
    await shard(4).record(4, [resent]);
    await shard(4).record(4, [resent, batch([use(k.id, ws, Date.now())])]);
    const counts = await runInDurableObject(shard(4), (_i, state) =>
      state.storage.sql.exec<{ requests: number }>("SELECT requests FROM daily WHERE key_id = ?", k.id).toArray(),
    );
    expect(counts.map((r) => r.requests)).toEqual([2]);
  });

  it("never fails the request when the recorder fails", async () => {
    const k = await createKey(await session(freshWs()));
    const broken = recorderStub({ record: () => Promise.reject(new Error("Durable Object is overloaded")) });
    const res = await fetchWith({ LAST_USED: broken }, "GET", "/v1/key", { token: k.key });
    expect(res.status).toBe(200);
    // The use was not lost: it waits in the isolate for the next message.
    expect(isolate().usage.unsent((await res.json<{ workspaceId: string }>()).workspaceId, [k.id])[k.id]).toBeDefined();
  });

  it("shows a use in the keys list before D1 has it, read from the recorder", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin);
    await fetchWith({}, "GET", "/v1/key", { token: k.key });
    const recorded = (await pending())[k.id]!;
    expect((await storedLastUsed(k.id))?.last_used_at).toBeNull(); // not flushed yet
    freshIsolate({ shard: 5 }); // another isolate: only the recorder knows
    const list = await (await call("GET", "/v1/api-keys", { token: admin })).json<{ data: { id: string; lastUsedAt: string | null }[] }>();
    expect(list.data.find((x) => x.id === k.id)?.lastUsedAt).toBe(new Date(recorded).toISOString());
    expect((await record(admin, k.id)).lastUsedAt).toBe(new Date(recorded).toISOString());
  });

  it("still lists keys, with D1's last-used times, when the recorder cannot answer", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin);
    const broken = recorderStub({ latest: () => Promise.reject(new Error("Durable Object reset")) });
    const res = await fetchWith({ LAST_USED: broken }, "GET", "/v1/api-keys", { token: admin });
    expect(res.status).toBe(200);
    const body = await res.json<{ data: { id: string; lastUsedAt: string | null }[] }>();
    expect(body.data.map((x) => x.id)).toEqual([k.id]);
    expect(body.data[0]!.lastUsedAt).toBeNull();
  });

  it("shows a use this isolate has not handed to the recorder yet", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin);
    const held = gate();
    // The message is held on its way; the recorder knows nothing yet.
    const slowRecorder = recorderStub({ record: () => held.pass(), latest: async () => ({}) });

    const before = Date.now();
    const used = isolate().fetch(new Request("https://owlish.test/v1/key", { headers: { Authorization: `Bearer ${k.key}` } }), {
      LAST_USED: slowRecorder,
    });
    expect((await used).status).toBe(200);
    await held.arrived(1);

    const res = await isolate().call("GET", `/v1/api-keys/${k.id}`, { token: admin });
    const shown = (await res.json<{ lastUsedAt: string | null }>()).lastUsedAt;
    expect(shown).not.toBeNull();
    expect(Date.parse(shown!)).toBeGreaterThanOrEqual(before);
    held.open();
  });

  it("keeps reporting when a scheduled send never runs: after two windows a new use sends again", async () => {
    const clock = freezeClock();
    const WINDOW = 5_000;
    const reporter = new CoalescingReporter({ coalesceMs: WINDOW, shard: 0 });
    // The recorder never answers, and waitUntil drops what it is given: as when
    // the runtime cuts a request's background work short, the send never completes.
    const sent: UseBatch[][] = [];
    const e = {
      ...env,
      LAST_USED: recorderStub({
        record: (_shard, batches) => {
          sent.push(batches);
          return new Promise(() => {});
        },
      }),
    };
    const cutShort = { waitUntil: () => {} };
    const ws = freshWs();
    const report = (keyId: string) =>
      reporter.report(e, cutShort, {
        workspaceId: ws,
        keyId,
        at: Date.now(),
        ip: null,
        country: null,
        outcome: "ok",
        method: "GET",
        path: "/v1/key",
        status: 200,
      });

    report("key_first"); // a quiet period: sent at once
    expect(sent).toHaveLength(1);
    report("key_second"); // rides on a send scheduled for the end of the window, which never comes
    clock.advance(2 * WINDOW);
    report("key_third");
    expect(sent).toHaveLength(1); // within two windows the scheduled send still counts as pending
    clock.advance(1);
    report("key_fourth");
    // Past two windows it is taken as lost: this use sends again, with everything not yet acknowledged.
    expect(sent).toHaveLength(2);
    expect(sent[1]!.flatMap((b) => b.uses.map((u) => u.keyId)).sort()).toEqual(["key_first", "key_fourth", "key_second", "key_third"]);
  });
});
