import { createExecutionContext, evictDurableObject, runDurableObjectAlarm, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import type { LastUsedRecorder } from "../src/usage/last-used-recorder";
import { call, createKey, session } from "./helpers";
import { counted, fetchWith, unreachableD1 } from "./worker";

const recorder = (ws: string) => env.LAST_USED.get(env.LAST_USED.idFromName(ws));
const pending = (ws: string) => recorder(ws).pending();

async function lastUsedAt(admin: string, id: string): Promise<string | null> {
  const res = await call("GET", `/v1/api-keys/${id}`, { token: admin });
  return (await res.json<{ lastUsedAt: string | null }>()).lastUsedAt;
}

describe("last used", () => {
  it("is null for a new key, then shows the latest use after a flush", async () => {
    const admin = await session("ws_lu1");
    const k = await createKey(admin);
    expect(await lastUsedAt(admin, k.id)).toBeNull();

    const before = Date.now();
    expect((await fetchWith({}, "GET", "/v1/key", { token: k.key })).status).toBe(200);
    const recorded = (await pending("ws_lu1"))[k.id];
    expect(recorded).toBeGreaterThanOrEqual(before);

    expect(await runDurableObjectAlarm(recorder("ws_lu1"))).toBe(true);
    expect(await lastUsedAt(admin, k.id)).toBe(new Date(recorded!).toISOString());
    expect(await pending("ws_lu1")).toEqual({});
  });

  it("writes every pending key of a workspace in one D1 batch", async () => {
    const admin = await session("ws_lu2");
    const keys = await Promise.all([1, 2, 3, 4].map(() => createKey(admin)));
    for (const k of keys) await fetchWith({}, "GET", "/v1/key", { token: k.key });
    expect(Object.keys(await pending("ws_lu2")).sort()).toEqual(keys.map((k) => k.id).sort());

    const d1 = counted(env.DB);
    await runInDurableObject(recorder("ws_lu2"), (instance: LastUsedRecorder) => {
      (instance as unknown as { env: typeof env }).env = { ...env, DB: d1.binding };
    });
    expect(await runDurableObjectAlarm(recorder("ws_lu2"))).toBe(true);
    expect(d1.calls.batch).toBe(1);
    for (const k of keys) expect(await lastUsedAt(admin, k.id)).not.toBeNull();
  });

  it("only moves forward, in the recorder and in D1", async () => {
    const admin = await session("ws_lu3");
    const k = await createKey(admin);
    const stub = recorder("ws_lu3");
    const t = Date.parse("2026-06-01T12:00:00.000Z");
    await stub.touch("ws_lu3", { [k.id]: t });
    await stub.touch("ws_lu3", { [k.id]: t - 60_000 });
    expect((await pending("ws_lu3"))[k.id]).toBe(t);
    await runDurableObjectAlarm(stub);
    expect(await lastUsedAt(admin, k.id)).toBe(new Date(t).toISOString());

    // An older report arriving after a newer flush never moves D1 back.
    await stub.touch("ws_lu3", { [k.id]: t - 3_600_000 });
    await runDurableObjectAlarm(stub);
    expect(await lastUsedAt(admin, k.id)).toBe(new Date(t).toISOString());
  });

  it("never touches another workspace's key", async () => {
    const adminA = await session("ws_lu4a");
    const k = await createKey(adminA);
    const intruder = recorder("ws_lu4b");
    await intruder.touch("ws_lu4b", { [k.id]: Date.now() });
    await runDurableObjectAlarm(intruder);
    expect(await lastUsedAt(adminA, k.id)).toBeNull();
  });

  it("keeps uses across an eviction between touch and flush", async () => {
    const admin = await session("ws_lu5");
    const k = await createKey(admin);
    await fetchWith({}, "GET", "/v1/key", { token: k.key });
    const before = await pending("ws_lu5");
    await evictDurableObject(recorder("ws_lu5"));
    expect(await pending("ws_lu5")).toEqual(before);
    expect(await runDurableObjectAlarm(recorder("ws_lu5"))).toBe(true);
    expect(await lastUsedAt(admin, k.id)).toBe(new Date(before[k.id]!).toISOString());
  });

  it("keeps the data of a failed flush and retries it", async () => {
    const admin = await session("ws_lu6");
    const k = await createKey(admin);
    await fetchWith({}, "GET", "/v1/key", { token: k.key });
    const stub = recorder("ws_lu6");
    await runInDurableObject(stub, (instance: LastUsedRecorder) => {
      (instance as unknown as { env: typeof env }).env = { ...env, DB: unreachableD1() };
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(Object.keys(await pending("ws_lu6"))).toEqual([k.id]);
    const retryAt = await runInDurableObject(stub, (_i, state) => state.storage.getAlarm());
    expect(retryAt).not.toBeNull();

    await runInDurableObject(stub, (instance: LastUsedRecorder) => {
      (instance as unknown as { env: typeof env }).env = env;
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await lastUsedAt(admin, k.id)).not.toBeNull();
    expect(await pending("ws_lu6")).toEqual({});
  });

  it("schedules the next flush no sooner than LAST_USED_FLUSH_SECONDS after the last", async () => {
    const admin = await session("ws_lu7");
    const k = await createKey(admin);
    const stub = recorder("ws_lu7");
    await stub.touch("ws_lu7", { [k.id]: Date.now() });
    await runDurableObjectAlarm(stub);
    const flushedAt = Date.now();
    await stub.touch("ws_lu7", { [k.id]: Date.now() + 1 });
    const next = await runInDurableObject(stub, (_i, state) => state.storage.getAlarm());
    expect(next).toBeGreaterThanOrEqual(flushedAt + Number(env.LAST_USED_FLUSH_SECONDS) * 1000 - 1000);
  });

  it("never fails or delays the request when the recorder fails", async () => {
    const admin = await session("ws_lu8");
    const k = await createKey(admin);
    const broken = {
      idFromName: () => ({}),
      get: () => ({ touch: () => Promise.reject(new Error("Durable Object is overloaded")) }),
    } as unknown as typeof env.LAST_USED;
    const res = await fetchWith({ LAST_USED: broken }, "GET", "/v1/key", { token: k.key });
    expect(res.status).toBe(200);
  });

  it("coalesces a busy isolate's uses into few messages", async () => {
    const admin = await session("ws_lu9");
    const keys = await Promise.all([1, 2, 3].map(() => createKey(admin)));
    let messages = 0;
    const seen: Record<string, number> = {};
    const ns = {
      idFromName: (n: string) => env.LAST_USED.idFromName(n),
      get: (id: DurableObjectId) => {
        const real = env.LAST_USED.get(id);
        return {
          touch: (ws: string, uses: Record<string, number>) => {
            messages++;
            Object.assign(seen, uses);
            return real.touch(ws, uses);
          },
        };
      },
    } as unknown as typeof env.LAST_USED;
    const window = { LAST_USED: ns, LAST_USED_COALESCE_MS: "300" };
    const requests = [];
    for (let i = 0; i < 30; i++) {
      requests.push(fetchWith(window, "GET", "/v1/key", { token: keys[i % 3]!.key }));
    }
    const responses = await Promise.all(requests);
    expect(responses.every((r) => r.status === 200)).toBe(true);
    // 30 uses of 3 keys in one window: one message at once, one at the window's end.
    expect(messages).toBeLessThanOrEqual(2);
    expect(Object.keys(seen).sort()).toEqual(keys.map((k) => k.id).sort());
  });

  it("shows a use in the keys list before D1 has it, read from the recorder", async () => {
    const admin = await session("ws_lu10");
    const k = await createKey(admin);
    await fetchWith({}, "GET", "/v1/key", { token: k.key });
    const recorded = (await pending("ws_lu10"))[k.id]!;
    const row = await env.DB.prepare("SELECT last_used_at FROM api_keys WHERE id = ?").bind(k.id).first<{ last_used_at: number | null }>();
    expect(row?.last_used_at).toBeNull(); // not flushed yet
    const list = await (await call("GET", "/v1/api-keys", { token: admin })).json<{ data: { id: string; lastUsedAt: string | null }[] }>();
    expect(list.data.find((x) => x.id === k.id)?.lastUsedAt).toBe(new Date(recorded).toISOString());
    expect(await lastUsedAt(admin, k.id)).toBe(new Date(recorded).toISOString());
  });

  it("still lists keys, with D1's last-used times, when the recorder cannot answer", async () => {
    const admin = await session("ws_lu11");
    const k = await createKey(admin);
    const broken = {
      idFromName: () => ({}),
      get: () => ({ latest: () => Promise.reject(new Error("Durable Object reset")) }),
    } as unknown as typeof env.LAST_USED;
    const res = await fetchWith({ LAST_USED: broken }, "GET", "/v1/api-keys", { token: admin });
    expect(res.status).toBe(200);
    const body = await res.json<{ data: { id: string; lastUsedAt: string | null }[] }>();
    expect(body.data.map((x) => x.id)).toEqual([k.id]);
  });

  it("shows a use this isolate has not handed to the recorder yet", async () => {
    const admin = await session("ws_lu12");
    const k = await createKey(admin);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slowRecorder = {
      idFromName: (name: string) => env.LAST_USED.idFromName(name),
      get: () => ({ touch: () => gate, latest: async () => ({}) }),
    } as unknown as typeof env.LAST_USED;

    const ctx = createExecutionContext();
    const before = Date.now();
    const request = new Request("https://owlish.test/v1/key", { headers: { Authorization: `Bearer ${k.key}` } });
    const used = await worker.fetch(request as Request<unknown, IncomingRequestCfProperties>, { ...env, LAST_USED: slowRecorder }, ctx);
    expect(used.status).toBe(200);

    // The message to the recorder is still on its way; the list already knows.
    const res = await fetchWith({ LAST_USED: slowRecorder }, "GET", `/v1/api-keys/${k.id}`, { token: admin });
    const shown = (await res.json<{ lastUsedAt: string | null }>()).lastUsedAt;
    expect(shown).not.toBeNull();
    expect(Date.parse(shown!)).toBeGreaterThanOrEqual(before);
    release();
    await waitOnExecutionContext(ctx);
  });
});

