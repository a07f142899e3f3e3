import { createExecutionContext, runDurableObjectAlarm, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, onTestFinished } from "vitest";
import type { LoggedCall, UseBatch, UseEntry } from "../../src/env";
import { generateKey } from "../../src/keys/format/key";
import { recorderShard } from "../../src/usage/recorder-protocol";
import {
  CALLS_KEPT,
  CALLS_MAX_AGE_MS,
  MAX_CALLS_PER_BATCH,
  type NewCall,
  RequestLogStore,
  TRIM_SLACK,
} from "../../src/usage/request-log-store";
import { gate, recorderStub } from "../support/bindings";
import { call, captureConsole, createKey, expectNotFound, freezeClock, freshWs, problem, session, walkPages } from "../support/helpers";
import { BASE, freshIsolate, isolate } from "../support/isolate";

/** The request log per key: what is recorded, kept and answered. */

interface Logged {
  id: string;
  at: string;
  method: string;
  path: string;
  status: number;
  outcome: string;
  ip: string | null;
  country: string | null;
}

const OK = 0;
const REVOKED = 4;
const shard = (n: number) => recorderShard(env, n);

/** A call with `key` as a client at `ip` in `country` would make it; waits until its report reached the recorder. */
async function send(
  method: string,
  path: string,
  key: string,
  { ip, country, body }: { ip?: string; country?: string; body?: unknown } = {},
) {
  const headers: Record<string, string> = { Authorization: `Bearer ${key}` };
  if (ip) headers["CF-Connecting-IP"] = ip;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const request = new Request(BASE + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    ...(country ? { cf: { country } } : {}),
  } as RequestInit);
  const ctx = createExecutionContext();
  const res = await isolate().fetch(request, {}, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

async function requestLog(admin: string, keyId: string, query = ""): Promise<{ data: Logged[]; nextCursor: string | null }> {
  const res = await call("GET", `/v1/api-keys/${keyId}/requests${query}`, { token: admin });
  expect(res.status, await res.clone().text()).toBe(200);
  return res.json();
}

/** Every entry of a key's log, newest first, through every page. */
async function wholeLog(admin: string, keyId: string, query = "", atMost = 4 * CALLS_KEPT): Promise<Logged[]> {
  return (await walkPages<Logged>(admin, `/v1/api-keys/${keyId}/requests${query}`, { limit: 100, atMost })).flat();
}

const batch = (uses: UseEntry[]): UseBatch => ({ id: crypto.randomUUID(), uses });
const entry = (keyId: string, workspaceId: string, calls: LoggedCall[], extra: Partial<UseEntry> = {}): UseEntry => ({
  keyId,
  workspaceId,
  at: null,
  ip: null,
  country: null,
  days: {},
  calls,
  ...extra,
});
/** `n` calls of one outcome, one millisecond apart, the last at `last`. */
const calls = (n: number, outcome: number, last: number, path = "/v1/sources"): LoggedCall[] =>
  Array.from({ length: n }, (_, i) => [last - (n - 1 - i), outcome, "GET", path, outcome === OK ? 200 : 401, "203.0.113.7", "DE"]);

/** Sends `list` to a shard, with their counts, in batches of at most `per` calls (a message carries at most MAX_CALLS_PER_BATCH). */
async function store(n: number, keyId: string, ws: string, list: LoggedCall[], per = 1_000) {
  for (let i = 0; i < list.length; i += per) {
    const part = list.slice(i, i + per);
    const outcomes: Record<string, number[]> = {};
    for (const [at, o] of part) (outcomes[new Date(at).toISOString().slice(0, 10)] ??= [0, 0, 0, 0, 0, 0])[o]!++;
    await shard(n).record(n, [batch([entry(keyId, ws, part, { outcomes })])]);
  }
}

/** Rows a shard stores for a key, read from its own storage. */
const storedRows = (n: number, keyId: string) =>
  runInDurableObject(
    shard(n),
    (_i, state) =>
      state.storage.sql
        .exec<{ refused: number; n: number; oldest: number }>(
          "SELECT refused, count(*) AS n, min(at) AS oldest FROM calls WHERE key_id = ? GROUP BY refused ORDER BY refused",
          keyId,
        )
        .toArray() as { refused: number; n: number; oldest: number }[],
  );

describe("every call presented with a known key is recorded", () => {
  it("records each outcome with time, method, path without its query, status, address and country", async () => {
    const clock = freezeClock(Date.parse("2026-12-04T12:00:00.000Z"));
    const ws = freshWs();
    const admin = await session(ws);
    const limited = await createKey(admin, { scopes: ["sources:read"] });
    expect(
      (
        await call("PATCH", `/v1/api-keys/${limited.id}`, {
          token: admin,
          body: { rateLimit: { limit: 3, periodSeconds: 3600 } },
        })
      ).status,
    ).toBe(200);
    const fenced = await createKey(admin);
    expect((await call("PATCH", `/v1/api-keys/${fenced.id}`, { token: admin, body: { ipAllowlist: ["198.51.100.0/24"] } })).status).toBe(
      200,
    );
    const revoked = await createKey(admin);
    expect((await call("POST", `/v1/api-keys/${revoked.id}/revoke`, { token: admin })).status).toBe(200);
    const expiring = await createKey(admin, { expiresAt: new Date(Date.now() + 60_000).toISOString() });
    const from = { ip: "203.0.113.7", country: "DE" };

    const t0 = Date.now();
    expect((await send("GET", "/v1/key?token=should-not-be-kept&x=1", limited.key, from)).status).toBe(200);
    clock.advance(1);
    expect((await send("POST", "/v1/sources", limited.key, { ...from, body: { name: "x", type: "text", content: "y" } })).status).toBe(403);
    clock.advance(1);
    expect((await send("GET", "/v1/sources/src_none", limited.key, from)).status).toBe(404);
    clock.advance(1);
    expect((await send("GET", "/v1/sources", limited.key, { ip: "2001:db8::1" })).status).toBe(429);
    expect((await send("GET", "/v1/sources", fenced.key, from)).status).toBe(403);
    expect((await send("DELETE", "/v1/sources/src_x", revoked.key, from)).status).toBe(401);
    clock.advance(60_000);
    expect((await send("GET", "/v1/key", expiring.key, from)).status).toBe(401);

    const at = (ms: number) => new Date(ms).toISOString();
    const fields = (l: Logged[]) => l.map(({ id: _, ...rest }) => rest);
    expect(fields((await requestLog(admin, limited.id)).data)).toEqual([
      { at: at(t0 + 3), method: "GET", path: "/v1/sources", status: 429, outcome: "rate_limited", ip: "2001:db8::1", country: null },
      { at: at(t0 + 2), method: "GET", path: "/v1/sources/src_none", status: 404, outcome: "ok", ip: "203.0.113.7", country: "DE" },
      { at: at(t0 + 1), method: "POST", path: "/v1/sources", status: 403, outcome: "insufficient_scope", ip: "203.0.113.7", country: "DE" },
      { at: at(t0), method: "GET", path: "/v1/key", status: 200, outcome: "ok", ip: "203.0.113.7", country: "DE" },
    ]);
    expect(fields((await requestLog(admin, fenced.id)).data)).toEqual([
      { at: at(t0 + 3), method: "GET", path: "/v1/sources", status: 403, outcome: "ip_not_allowed", ip: "203.0.113.7", country: "DE" },
    ]);
    expect(fields((await requestLog(admin, revoked.id)).data)).toEqual([
      { at: at(t0 + 3), method: "DELETE", path: "/v1/sources/src_x", status: 401, outcome: "revoked", ip: "203.0.113.7", country: "DE" },
    ]);
    expect(fields((await requestLog(admin, expiring.id)).data)).toEqual([
      { at: at(t0 + 60_003), method: "GET", path: "/v1/key", status: 401, outcome: "expired", ip: "203.0.113.7", country: "DE" },
    ]);
    for (const l of (await requestLog(admin, limited.id)).data) expect(l.id).toMatch(/^req_[0-9a-f]{14}$/);

    // Usage days count every outcome; `requests` keeps its meaning: calls that passed the allowlist.
    const today = async (id: string) => {
      const res = await call("GET", `/v1/api-keys/${id}/usage?days=1`, { token: admin });
      return (await res.json<{ data: { requests: number; outcomes: Record<string, number> }[] }>()).data[0];
    };
    const none = { ok: 0, insufficient_scope: 0, ip_not_allowed: 0, rate_limited: 0, revoked: 0, expired: 0 };
    expect(await today(limited.id)).toMatchObject({ requests: 4, outcomes: { ...none, ok: 2, insufficient_scope: 1, rate_limited: 1 } });
    expect(await today(fenced.id)).toMatchObject({ requests: 0, outcomes: { ...none, ip_not_allowed: 1 } });
    expect(await today(revoked.id)).toMatchObject({ requests: 0, outcomes: { ...none, revoked: 1 } });
    expect(await today(expiring.id)).toMatchObject({ requests: 0, outcomes: { ...none, expired: 1 } });
  });

  it("a status the route answered after its checks is the one recorded, and the throttle's 429 for a refused key too", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    const revoked = await createKey(admin);
    await call("POST", `/v1/api-keys/${revoked.id}/revoke`, { token: admin });
    // The failed-auth throttle answers 429 instead of 401 once a client refused too often: the outcome stays `revoked`.
    const throttled = { limit: async () => ({ success: false }) } as unknown as RateLimit;
    const ctx = createExecutionContext();
    const res = await isolate().fetch(
      new Request(`${BASE}/v1/key`, { headers: { Authorization: `Bearer ${revoked.key}`, "CF-Connecting-IP": "198.51.100.9" } }),
      { AUTH_FAILURES: throttled },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(res.status).toBe(429);
    expect((await requestLog(admin, revoked.id)).data.map((l) => [l.outcome, l.status])).toEqual([["revoked", 429]]);
  });

  it("never keeps a key that a client put in the path, plain or percent-encoded", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin);
    const other = await createKey(admin);
    await send("GET", `/v1/sources/${other.key}?k=${other.key}`, k.key);
    await send("GET", `/v1/sources/${other.key.replace("_", "%5F").replace("_", "%5F")}`, k.key);
    await send("GET", `/v1/sources/x${"y".repeat(400)}`, k.key);
    const paths = (await requestLog(admin, k.id)).data.map((l) => l.path);
    expect(paths).toEqual([`/v1/sources/x${"y".repeat(256 - 13 - 1)}…`, "/v1/sources/sk_live_…", "/v1/sources/sk_live_…"]);
    const dump = await runInDurableObject(shard(0), (_i, state) => JSON.stringify(state.storage.sql.exec("SELECT * FROM calls").toArray()));
    expect(dump).not.toContain(other.key.slice(8));
  });

  it("a key that is not ours has nothing to be logged under", async () => {
    const before = await runInDurableObject(
      shard(0),
      (_i, state) => state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM calls").one().n,
    );
    const res = await send("GET", "/v1/key", generateKey());
    expect(res.status).toBe(401);
    const after = await runInDurableObject(
      shard(0),
      (_i, state) => state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM calls").one().n,
    );
    expect(after).toBe(before);
  });
});

describe("GET /v1/api-keys/{id}/requests", () => {
  it("is 404 for another workspace's key and for an unknown id, 403 for a member, 401 without a session", async () => {
    const theirAdmin = await session(freshWs());
    const theirs = await createKey(theirAdmin);
    await send("GET", "/v1/key", theirs.key);
    expect((await requestLog(theirAdmin, theirs.id)).data).toHaveLength(1);
    const ws = freshWs();
    const mine = await session(ws);
    for (const id of [theirs.id, "key_doesnotexist"])
      await expectNotFound(await call("GET", `/v1/api-keys/${id}/requests`, { token: mine }));
    const k = await createKey(mine);
    expect((await call("GET", `/v1/api-keys/${k.id}/requests`, { token: await session(ws, "member") })).status).toBe(403);
    expect((await call("GET", `/v1/api-keys/${k.id}/requests`)).status).toBe(401);
  });

  it("refuses a bad limit, outcome or cursor with 400 naming it", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin);
    for (const [query, path] of [
      ["limit=0", "limit"],
      ["limit=101", "limit"],
      ["outcome=served", "outcome"],
      ["cursor=nope", "cursor"],
      [`cursor=${btoa(JSON.stringify({ t: 1, id: "key_x" }))}`, "cursor"],
    ]) {
      const res = await call("GET", `/v1/api-keys/${k.id}/requests?${query}`, { token: admin });
      expect(res.status, query).toBe(400);
      expect((await problem(res)).errors?.map((e) => e.path)).toEqual([path]);
    }
  });

  it("filters by outcome", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin, { scopes: ["sources:read"] });
    await send("GET", "/v1/key", k.key);
    await send("POST", "/v1/sources", k.key, { body: { name: "x", type: "text", content: "y" } });
    await send("GET", "/v1/sources", k.key);
    expect((await requestLog(admin, k.id, "?outcome=ok")).data.map((l) => l.path)).toEqual(["/v1/sources", "/v1/key"]);
    expect((await requestLog(admin, k.id, "?outcome=insufficient_scope")).data.map((l) => l.method)).toEqual(["POST"]);
    expect((await requestLog(admin, k.id, "?outcome=revoked")).data).toEqual([]);
  });

  it("pages newest first without skipping or repeating an entry while new ones arrive, over every shard", async () => {
    const clock = freezeClock();
    const ws = freshWs();
    const admin = await session(ws);
    const k = await createKey(admin);
    // Three isolates on three shards, several calls in the same millisecond: ties are broken by id.
    const shards = [2, 3, 4];
    for (let round = 0; round < 6; round++) {
      for (const n of shards) {
        freshIsolate({ shard: n });
        await send("GET", `/v1/key?round=${round}`, k.key);
        await send("GET", "/v1/sources", k.key);
      }
      clock.advance(round % 2 ? 1 : 0);
    }
    const before = await wholeLog(admin, k.id);
    expect(before).toHaveLength(36);
    expect(new Set(before.map((l) => l.id)).size).toBe(36);
    const order = before.map((l) => [l.at, l.id]);
    expect(order).toEqual([...order].sort((a, b) => (a[0]! < b[0]! ? 1 : a[0]! > b[0]! ? -1 : a[1]! < b[1]! ? 1 : -1)));

    let added = 0;
    const pages = await walkPages<Logged>(admin, `/v1/api-keys/${k.id}/requests`, {
      limit: 5,
      atMost: 36,
      between: async () => {
        // New calls land on every shard between two pages.
        for (const n of shards) {
          freshIsolate({ shard: n });
          await send("GET", "/v1/key", k.key);
          added++;
        }
        clock.advance(1);
      },
    });
    const walked = pages.flat().map((l) => l.id);
    expect(walked).toEqual(before.map((l) => l.id));
    expect(added).toBeGreaterThan(0);
    expect(await wholeLog(admin, k.id)).toHaveLength(36 + added);
  });

  it("is 503 when a shard cannot answer, rather than a page that would skip its entries", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin);
    const broken = recorderStub((real) => ({ ...real, calls: () => Promise.reject(new Error("Durable Object reset")) }) as never);
    const res = await isolate().settled({ LAST_USED: broken }, "GET", `/v1/api-keys/${k.id}/requests`, { token: admin });
    expect(res.status).toBe(503);
    expect((await problem(res)).code).toBe("unavailable");
  });
});

describe("retention", () => {
  it("keeps the newest 1 000 served and, apart, the newest 1 000 refused calls of a key: a busy key cannot push its refused ones out", async () => {
    const clock = freezeClock(Date.parse("2026-12-04T12:00:00.000Z"));
    const ws = freshWs();
    const admin = await session(ws);
    const k = await createKey(admin);
    const t = Date.now();
    await store(11, k.id, ws, calls(CALLS_KEPT, REVOKED, t - 10_000));
    await store(11, k.id, ws, calls(CALLS_KEPT, OK, t));
    // Both classes at their limit: all 2 000 kept.
    expect(await storedRows(11, k.id)).toEqual([
      { refused: 0, n: CALLS_KEPT, oldest: t - CALLS_KEPT + 1 },
      { refused: 1, n: CALLS_KEPT, oldest: t - 10_000 - CALLS_KEPT + 1 },
    ]);
    expect(await wholeLog(admin, k.id)).toHaveLength(2 * CALLS_KEPT);

    // Past the limit, within the slack: the newest 1 000 are there, and at most TRIM_SLACK more.
    const t2 = t + 1_000;
    clock.advance(1_000);
    await store(11, k.id, ws, calls(TRIM_SLACK, OK, t2));
    expect(await storedRows(11, k.id)).toEqual([
      { refused: 0, n: CALLS_KEPT + TRIM_SLACK, oldest: t - CALLS_KEPT + 1 },
      { refused: 1, n: CALLS_KEPT, oldest: t - 10_000 - CALLS_KEPT + 1 },
    ]);
    // One more: the write trims the class back to its newest 1 000, and leaves the refused ones.
    clock.advance(1_000);
    await store(11, k.id, ws, calls(1, OK, Date.now()));
    expect(await storedRows(11, k.id)).toEqual([
      { refused: 0, n: CALLS_KEPT, oldest: t - CALLS_KEPT + 1 + TRIM_SLACK + 1 },
      { refused: 1, n: CALLS_KEPT, oldest: t - 10_000 - CALLS_KEPT + 1 },
    ]);

    // A flood of served calls (within the shard's rate) leaves every refused one in place.
    clock.advance(1_000);
    await store(11, k.id, ws, calls(5_000, OK, Date.now()), MAX_CALLS_PER_BATCH);
    const rows = await storedRows(11, k.id);
    expect(rows).toEqual([
      { refused: 0, n: CALLS_KEPT, oldest: Date.now() - CALLS_KEPT + 1 },
      { refused: 1, n: CALLS_KEPT, oldest: t - 10_000 - CALLS_KEPT + 1 },
    ]);
    const log = await wholeLog(admin, k.id);
    expect(log.filter((l) => l.outcome === "revoked")).toHaveLength(CALLS_KEPT);
    expect(log.filter((l) => l.outcome === "ok").map((l) => Date.parse(l.at))).toEqual(
      Array.from({ length: CALLS_KEPT }, (_, i) => Date.now() - i),
    );
  });

  it("answers nothing older than 30 days, and the next write or alarm deletes it", async () => {
    const clock = freezeClock(Date.parse("2026-12-04T12:00:00.000Z"));
    const ws = freshWs();
    const k = await createKey(await session(ws));
    const other = await createKey(await session(ws));
    // A session is good for a day at most: a fresh one for each look, the clock having moved on.
    const log = async () => (await wholeLog(await session(ws), k.id)).map((l) => Date.parse(l.at));
    const t = Date.now();
    await store(12, k.id, ws, calls(3, OK, t));

    clock.advance(CALLS_MAX_AGE_MS - 2); // the oldest entry (t - 2) is exactly 30 days old: kept
    expect(await log()).toEqual([t, t - 1, t - 2]);
    clock.advance(1);
    expect(await log()).toEqual([t, t - 1]);
    expect((await storedRows(12, k.id))[0]?.n).toBe(3); // not answered, but still stored until a write

    // Any write to the shard (here another key's) deletes it.
    await store(12, other.id, ws, calls(1, OK, Date.now()));
    expect((await storedRows(12, k.id))[0]?.n).toBe(2);

    // Nothing more arrives: after its flush the shard's next alarm is due when the next entry expires, and deletes it.
    expect(await runDurableObjectAlarm(shard(12))).toBe(true);
    const next = await runInDurableObject(shard(12), (_i, state) => state.storage.getAlarm());
    expect(next).not.toBeNull();
    expect(next).toBeLessThanOrEqual(t - 1 + CALLS_MAX_AGE_MS + 1_000);
    clock.advance(2);
    expect(await runDurableObjectAlarm(shard(12))).toBe(true);
    expect(await storedRows(12, k.id)).toEqual([]);
    expect(await log()).toEqual([]);
  });

  it("a full shard evicts its oldest entries, whatever their key, as many as a write adds, and counts them", async () => {
    const ws = freshWs();
    const { first, second, rows } = await runInDurableObject(shard(5), (_i, state) => {
      // The shard's store as it would be with room for 10 entries.
      const log = new RequestLogStore(state.storage.sql, { maxRows: 10 });
      const now = Date.now();
      const some = (keyId: string, n: number, from: number) =>
        Array.from({ length: n }, (_, i): NewCall => [keyId, ws, from + i, 0, 0, "GET", "/v1/key", 200, null, null]);
      const first = log.store(some("key_a", 8, now - 100), now);
      const second = log.store(some("key_b", 5, now - 50), now);
      const rows = state.storage.sql
        .exec<{ key_id: string; at: number }>("SELECT key_id, at - ? AS at FROM calls WHERE workspace_id = ? ORDER BY seq", now, ws)
        .toArray()
        .map((r) => `${r.key_id}@${r.at}`);
      return { first, second, rows };
    });
    expect(first.evicted).toBe(0);
    expect(second.evicted).toBe(3);
    expect(rows).toEqual([
      ...[-97, -96, -95, -94, -93].map((at) => `key_a@${at}`),
      ...[-50, -49, -48, -47, -46].map((at) => `key_b@${at}`),
    ]);
  });
});

describe("a revoked key still presented", () => {
  const flushAll = async (n: number) => {
    while (await runDurableObjectAlarm(shard(n)));
  };
  const signalsOf = async (keyId: string) =>
    (
      await env.DB.prepare("SELECT kind, dedupe, workspace_id, at, data, events_at FROM key_signals WHERE key_id = ? ORDER BY at")
        .bind(keyId)
        .all<Record<string, unknown>>()
    ).results;

  it("raises one used_after_revoke signal per key per hour over every shard, logged once, and shows in the key's record", async () => {
    const clock = freezeClock(Date.parse("2026-12-04T12:10:00.000Z"));
    const ws = freshWs();
    const k = await createKey(await session(ws));
    expect((await call("GET", `/v1/api-keys/${k.id}`, { token: await session(ws) })).status).toBe(200);
    expect((await call("POST", `/v1/api-keys/${k.id}/revoke`, { token: await session(ws) })).status).toBe(200);
    const logs = captureConsole();
    onTestFinished(logs.restore);

    // Presented again and again, from isolates on two shards, within the hour.
    const first = Date.now();
    for (const n of [14, 15]) {
      freshIsolate({ shard: n });
      for (let i = 0; i < 3; i++) {
        expect((await send("GET", "/v1/key", k.key, { ip: `198.51.100.${n}`, country: "FR" })).status).toBe(401);
        clock.advance(1_000);
      }
    }
    const last = Date.now() - 1_000;
    // Before any flush, the record already says so (read from the shards).
    const record = async () =>
      (await (await call("GET", `/v1/api-keys/${k.id}`, { token: await session(ws) })).json<{ usedAfterRevokeAt: string | null }>())
        .usedAfterRevokeAt;
    expect(await record()).toBe(new Date(last).toISOString());

    await flushAll(14);
    await flushAll(15);
    expect(await signalsOf(k.id)).toEqual([
      {
        kind: "used_after_revoke",
        dedupe: `used_after_revoke:${k.id}:2026-12-04T12`,
        workspace_id: ws,
        at: first,
        // What the first presentation of the hour saw.
        data: JSON.stringify({ ip: "198.51.100.14", country: "FR", at: new Date(first).toISOString() }),
        events_at: null,
      },
    ]);
    expect(logs.events().filter((l) => l.event === "used_after_revoke" && l.keyId === k.id)).toHaveLength(1);
    const stored = await env.DB.prepare("SELECT used_after_revoke_at FROM api_keys WHERE id = ?")
      .bind(k.id)
      .first<{ used_after_revoke_at: number }>();
    expect(stored?.used_after_revoke_at).toBe(last);
    freshIsolate({ shard: 1 });
    expect(await record()).toBe(new Date(last).toISOString());

    // Later in the same hour: nothing new. The next hour: one more.
    clock.advance(30 * 60_000);
    await send("GET", "/v1/key", k.key);
    freshIsolate({ shard: 14 });
    await send("GET", "/v1/key", k.key);
    await flushAll(1);
    await flushAll(14);
    expect(await signalsOf(k.id)).toHaveLength(1);
    clock.advance(30 * 60_000);
    await send("GET", "/v1/key", k.key);
    await flushAll(14);
    expect((await signalsOf(k.id)).map((s) => s.dedupe)).toEqual([
      `used_after_revoke:${k.id}:2026-12-04T12`,
      `used_after_revoke:${k.id}:2026-12-04T13`,
    ]);
    expect(logs.events().filter((l) => l.event === "used_after_revoke" && l.keyId === k.id)).toHaveLength(2);
  });

  it("never raises two used_after_revoke signals within an hour of each other, across a clock hour and across shards", async () => {
    const clock = freezeClock(Date.parse("2026-12-04T12:59:59.000Z"));
    const ws = freshWs();
    const k = await createKey(await session(ws));
    expect((await call("POST", `/v1/api-keys/${k.id}/revoke`, { token: await session(ws) })).status).toBe(200);
    const presentOn = async (n: number) => {
      freshIsolate({ shard: n });
      expect((await send("GET", "/v1/key", k.key)).status).toBe(401);
    };
    await presentOn(14); // 12:59:59
    await flushAll(14);
    clock.advance(1_000);
    await presentOn(15); // 13:00:00, another shard
    await presentOn(14); // and this one again
    await flushAll(15);
    await flushAll(14);
    expect((await signalsOf(k.id)).map((s) => s.at)).toEqual([Date.parse("2026-12-04T12:59:59.000Z")]);
    // An hour after the first: the next one.
    clock.advance(3_600_000 - 1_000);
    await presentOn(15);
    await flushAll(15);
    expect((await signalsOf(k.id)).map((s) => s.at)).toEqual([
      Date.parse("2026-12-04T12:59:59.000Z"),
      Date.parse("2026-12-04T13:59:59.000Z"),
    ]);
  });

  it("an active key, or a key of another workspace, never gets one, whatever a message claims", async () => {
    const ws = freshWs();
    const active = await createKey(await session(ws));
    const revoked = await createKey(await session(ws));
    await call("POST", `/v1/api-keys/${revoked.id}/revoke`, { token: await session(ws) });
    const at = Date.now();
    const claim = (keyId: string, workspaceId: string) => entry(keyId, workspaceId, [], { afterRevoke: [at, null, null] });
    await shard(10).record(10, [batch([claim(active.id, ws), claim(revoked.id, freshWs())])]);
    await flushAll(10);
    expect(await signalsOf(active.id)).toEqual([]);
    expect(await signalsOf(revoked.id)).toEqual([]);
    const rows = await env.DB.prepare("SELECT used_after_revoke_at AS at FROM api_keys WHERE id IN (?, ?)")
      .bind(active.id, revoked.id)
      .all();
    expect(rows.results).toEqual([{ at: null }, { at: null }]);
  });
});

describe("DELETE /v1/request-log", () => {
  it("erases the workspace's entries on every shard, refuses late ones made before, and leaves other workspaces alone", async () => {
    const clock = freezeClock();
    const ws = freshWs();
    const admin = await session(ws);
    const mine = await createKey(admin);
    const theirAdmin = await session(freshWs());
    const theirs = await createKey(theirAdmin);
    for (const n of [2, 3]) {
      freshIsolate({ shard: n });
      await send("GET", "/v1/key", mine.key);
      await send("GET", "/v1/key", theirs.key);
    }
    // A call made before the erasure whose message is still on its way.
    const held = gate();
    const slow = recorderStub((real) => ({
      record: async (n, batches) => {
        await held.pass();
        return real.record(n, batches);
      },
    }));
    const late = freshIsolate({ shard: 4 });
    const ctx = createExecutionContext();
    expect(
      (await late.fetch(new Request(`${BASE}/v1/key`, { headers: { Authorization: `Bearer ${mine.key}` } }), { LAST_USED: slow }, ctx))
        .status,
    ).toBe(200);
    await held.arrived(1);
    expect(await requestLog(admin, mine.id)).toMatchObject({ data: { length: 2 } });

    clock.advance(1);
    expect((await call("DELETE", "/v1/request-log", { token: await session(ws, "member") })).status).toBe(403);
    const res = await call("DELETE", "/v1/request-log", { token: admin });
    expect(res.status).toBe(204);
    expect((await requestLog(admin, mine.id)).data).toEqual([]);
    expect((await requestLog(theirAdmin, theirs.id)).data).toHaveLength(2);

    held.open();
    await waitOnExecutionContext(ctx);
    expect((await requestLog(admin, mine.id)).data).toEqual([]);
    // Calls made after it are logged as ever.
    await send("GET", "/v1/key", mine.key);
    expect((await requestLog(admin, mine.id)).data).toHaveLength(1);
  });
});

describe("erasing a big log", () => {
  it("goes a bounded chunk per call, and from the first call nothing erased is answered", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    const k = await createKey(admin);
    const other = freshWs();
    const t = Date.now();
    await store(6, k.id, ws, [...calls(15, OK, t - 100), ...calls(10, REVOKED, t - 100)]);
    await store(6, "key_other", other, calls(3, OK, t));
    const left = () =>
      runInDurableObject(shard(6), (_i, state) =>
        state.storage.sql
          .exec<{ workspace_id: string; n: number }>("SELECT workspace_id, count(*) AS n FROM calls GROUP BY workspace_id ORDER BY n")
          .toArray()
          .map((r) => [r.workspace_id, r.n]),
      );
    const erase = () => shard(6).erase(ws, t + 1, 10);
    expect(await erase()).toEqual({ deleted: 10, done: false });
    // Not all deleted yet, but none answered.
    expect((await requestLog(admin, k.id)).data).toEqual([]);
    expect(await erase()).toEqual({ deleted: 10, done: false });
    expect(await erase()).toEqual({ deleted: 5, done: true });
    expect(await left()).toEqual([[other, 3]]);
  });
});
