import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { LastUsedRecorder } from "../src/usage/last-used-recorder";
import { MAX_EXPIRED_ROWS_PER_FLUSH } from "../src/usage/last-used-recorder";
import { recorderShard } from "../src/usage/recorder-protocol";
import { call, createKey, freshWs, problem, session } from "./helpers";
import { BASE, freshIsolate, isolate } from "./isolate";
import { fetchWith } from "./worker";

type Usage = { data: { date: string; requests: number; outcomes: Record<string, number> }[]; total: number };

const usageOf = async (admin: string, id: string, query = "") => {
  const res = await call("GET", `/v1/api-keys/${id}/usage${query}`, { token: admin });
  expect(res.status).toBe(200);
  return res.json<Usage>();
};
const flushShard = async (n = 0) => {
  while (await runDurableObjectAlarm(recorderShard(env, n)));
};
const setRecorderEnv = (n: number, e: typeof env) =>
  runInDurableObject(recorderShard(env, n), (instance: LastUsedRecorder) => {
    (instance as unknown as { env: typeof env }).env = e;
  });

afterEach(() => vi.useRealTimers());

describe("GET /v1/api-keys/{id}/usage", () => {
  it("answers one entry per day, oldest first, zero days included, 30 by default", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin);
    const u = await usageOf(admin, k.id);
    expect(u.data).toHaveLength(30);
    expect(u.total).toBe(0);
    expect(u.data.every((d) => d.requests === 0)).toBe(true);
    const dates = u.data.map((d) => d.date);
    expect([...dates].sort()).toEqual(dates);
    expect(dates.at(-1)).toBe(new Date().toISOString().slice(0, 10));
    expect(new Set(dates).size).toBe(30);
    expect((await usageOf(admin, k.id, "?days=1")).data.map((d) => d.date)).toEqual([dates.at(-1)]);
    expect((await usageOf(admin, k.id, "?days=90")).data).toHaveLength(90);
  });

  it.each(["0", "91", "-1", "1.5", "abc", ""])("refuses days=%s with 400 invalid_request naming days", async (days) => {
    const admin = await session(freshWs());
    const k = await createKey(admin);
    const res = await call("GET", `/v1/api-keys/${k.id}/usage?days=${days}`, { token: admin });
    expect(res.status).toBe(400);
    const body = await problem(res);
    expect(body.code).toBe("invalid_request");
    expect(body.errors?.map((e) => e.path)).toEqual(["days"]);
  });

  it("counts every authenticated call exactly, concurrent ones included, before and after the flush", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin, { scopes: ["sources:read"] });
    const N = 37;
    const responses = await Promise.all(Array.from({ length: N }, () => call("GET", "/v1/key", { token: k.key })));
    expect(responses.every((r) => r.status === 200)).toBe(true);
    // A call without the route's scope is still an authenticated use.
    expect((await call("POST", "/v1/sources", { token: k.key, body: { name: "x", type: "text", content: "y" } })).status).toBe(403);
    expect((await usageOf(admin, k.id)).total).toBe(N + 1); // still queued in this isolate

    await fetchWith({}, "GET", "/v1/key", { token: k.key }); // waits: the queue reaches the recorder
    expect((await usageOf(admin, k.id)).total).toBe(N + 2);
    freshIsolate({ shard: 7 }); // another isolate: only the recorder and D1 know
    expect((await usageOf(admin, k.id)).total).toBe(N + 2);
    await flushShard(0);
    expect((await usageOf(admin, k.id)).total).toBe(N + 2);
    const rows = await env.DB.prepare("SELECT sum(requests) AS n FROM key_usage_daily WHERE key_id = ?").bind(k.id).first<{ n: number }>();
    expect(rows?.n).toBe(N + 2);
  });

  it("splits uses at UTC midnight", async () => {
    const today = new Date();
    const midnight = Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() + 1);
    vi.useFakeTimers({ toFake: ["Date"], now: midnight - 60_000 });
    const admin = await session(freshWs());
    const k = await createKey(admin);
    vi.setSystemTime(midnight - 1_000);
    for (let i = 0; i < 3; i++) expect((await call("GET", "/v1/key", { token: k.key })).status).toBe(200);
    vi.setSystemTime(midnight + 1_000);
    for (let i = 0; i < 2; i++) expect((await call("GET", "/v1/key", { token: k.key })).status).toBe(200);
    const u = await usageOf(admin, k.id, "?days=2");
    const served = (ok: number) => ({ ok, insufficient_scope: 0, ip_not_allowed: 0, rate_limited: 0, revoked: 0, expired: 0 });
    expect(u.data).toEqual([
      { date: new Date(midnight - 1_000).toISOString().slice(0, 10), requests: 3, outcomes: served(3) },
      { date: new Date(midnight).toISOString().slice(0, 10), requests: 2, outcomes: served(2) },
    ]);
    expect(u.total).toBe(5);
  });

  it("a flush retried after a failure that did reach D1 never counts twice", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin);
    await flushShard(0);
    for (let i = 0; i < 4; i++) await fetchWith({}, "GET", "/v1/key", { token: k.key });
    // D1 commits the batch, but the answer is lost on the way back.
    let batches = 0;
    const lossy = {
      prepare: (q: string) => env.DB.prepare(q),
      batch: async (s: D1PreparedStatement[]) => {
        batches++;
        await env.DB.batch(s);
        throw new Error("D1_ERROR: Network connection lost.");
      },
    } as unknown as D1Database;
    await setRecorderEnv(0, { ...env, DB: lossy });
    expect(await runDurableObjectAlarm(recorderShard(env, 0))).toBe(true);
    expect(batches).toBe(1);
    await setRecorderEnv(0, env);
    await flushShard(0);
    const stored = await env.DB.prepare("SELECT sum(requests) AS n FROM key_usage_daily WHERE key_id = ?")
      .bind(k.id)
      .first<{ n: number }>();
    expect(stored?.n).toBe(4);
    freshIsolate({ shard: 9 });
    expect((await usageOf(admin, k.id)).total).toBe(4);
  });

  it("is 404 for another workspace's key, and for an unknown id", async () => {
    const theirs = await createKey(await session(freshWs()));
    await call("GET", "/v1/key", { token: theirs.key });
    const mine = await session(freshWs());
    for (const id of [theirs.id, "key_doesnotexist"]) {
      const res = await call("GET", `/v1/api-keys/${id}/usage`, { token: mine });
      expect(res.status).toBe(404);
      expect((await problem(res)).code).toBe("not_found");
    }
  });

  it("is for admins: a member gets 403, no session 401", async () => {
    const ws = freshWs();
    const k = await createKey(await session(ws));
    expect((await call("GET", `/v1/api-keys/${k.id}/usage`, { token: await session(ws, "member") })).status).toBe(403);
    expect((await call("GET", `/v1/api-keys/${k.id}/usage`)).status).toBe(401);
  });
});

describe("GET /v1/key-usage", () => {
  it("totals each used key of the workspace, most used first, and nothing of another workspace", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    const [a, b, idle] = [await createKey(admin), await createKey(admin), await createKey(admin)];
    const other = await createKey(await session(freshWs()));
    for (let i = 0; i < 3; i++) await call("GET", "/v1/key", { token: a.key });
    await call("GET", "/v1/key", { token: b.key });
    await call("GET", "/v1/key", { token: other.key });
    const res = await call("GET", "/v1/key-usage?days=30", { token: admin });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      data: [
        { keyId: a.id, requests: 3 },
        { keyId: b.id, requests: 1 },
      ],
      days: 30,
    });
    expect(idle.id).toBeTruthy();
  });
});

describe("last used from where", () => {
  it("records the caller's address and country with the latest use", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin);
    const request = new Request(`${BASE}/v1/key`, {
      headers: { Authorization: `Bearer ${k.key}`, "CF-Connecting-IP": "2001:db8::7" },
      cf: { country: "DE" },
    } as RequestInit);
    expect((await isolate().fetch(request)).status).toBe(200);
    const record = await (await call("GET", `/v1/api-keys/${k.id}`, { token: admin })).json<Record<string, unknown>>();
    expect(record).toMatchObject({ lastUsedIp: "2001:db8::7", lastUsedCountry: "DE" });
    expect(record.lastUsedAt).not.toBeNull();
    const listed = await (await call("GET", "/v1/api-keys", { token: admin })).json<{ data: Record<string, unknown>[] }>();
    expect(listed.data[0]).toMatchObject({ id: k.id, lastUsedIp: "2001:db8::7", lastUsedCountry: "DE" });
  });
});

describe("retention", () => {
  it("a flush deletes daily rows older than 90 days, a bounded number at a time", async () => {
    const ws = freshWs();
    const k = await createKey(await session(ws));
    const old = 650;
    const stmts = Array.from({ length: old }, (_, i) =>
      env.DB.prepare("INSERT INTO key_usage_daily (key_id, day, shard, workspace_id, requests) VALUES (?, ?, ?, ?, 1)").bind(
        `key_old_${i}`,
        "2020-01-01",
        0,
        ws,
      ),
    );
    await env.DB.batch(stmts);
    await env.DB.prepare("INSERT INTO key_usage_daily (key_id, day, shard, workspace_id, requests) VALUES (?, ?, 15, ?, 5)")
      .bind(k.id, new Date().toISOString().slice(0, 10), ws)
      .run();
    const count = async () =>
      (await env.DB.prepare("SELECT count(*) AS n FROM key_usage_daily WHERE day = '2020-01-01'").first<{ n: number }>())!.n;
    const before = await count();
    await fetchWith({}, "GET", "/v1/key", { token: k.key });
    await runDurableObjectAlarm(recorderShard(env, 0));
    expect(before - (await count())).toBe(Math.min(before, MAX_EXPIRED_ROWS_PER_FLUSH));
    // Today's rows are kept (shard 15's and the one this flush wrote).
    const today = await env.DB.prepare("SELECT requests FROM key_usage_daily WHERE key_id = ?").bind(k.id).all<{ requests: number }>();
    expect(today.results.map((r) => r.requests).sort()).toEqual([1, 5].sort());
  });
});
