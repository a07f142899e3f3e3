import { createExecutionContext, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, onTestFinished } from "vitest";
import type { LoggedCall, UseBatch } from "../../src/env";
import { CALLS_PER_KEY, CoalescingReporter, MAX_CALLS_PER_MESSAGE } from "../../src/usage/coalescing-reporter";
import type { LastUsedRecorder } from "../../src/usage/last-used-recorder";
import { recorderShard } from "../../src/usage/recorder-protocol";
import { CALLS_PER_SECOND, CALLS_PER_WRITE, MAX_CALLS_PER_BATCH } from "../../src/usage/request-log-store";
import { type KeyRequest, utcDay } from "../../src/usage/use-reporter";
import { feedReads, recorderStub, recordingD1 } from "../support/bindings";
import { call, captureConsole, createKey, freezeClock, freshWs, session } from "../support/helpers";
import { BASE, freshIsolate, Isolate } from "../support/isolate";

/**
 * How calls reach the request log: in the messages isolates already send to
 * the recorder shards (no message and no D1 write of their own), within
 * budgets that drop and count instead of waiting, exactly once.
 */

const shard = (n: number) => recorderShard(env, n);

const request = (keyId: string, workspaceId: string, at: number, outcome: KeyRequest["outcome"] = "ok"): KeyRequest => ({
  workspaceId,
  keyId,
  at,
  ip: "203.0.113.7",
  country: "DE",
  outcome,
  method: "GET",
  path: "/v1/key",
  status: outcome === "ok" ? 200 : 403,
});

/** A reporter whose messages are captured (and answered), never sent: what one isolate would send. */
function capturingReporter(coalesceMs = 100) {
  const sent: UseBatch[][] = [];
  const e = { ...env, LAST_USED: recorderStub({ record: async (_shard, batches) => void sent.push(batches) }) };
  const pending: Promise<unknown>[] = [];
  const ctx = { waitUntil: (p: Promise<unknown>) => void pending.push(p) };
  return { reporter: new CoalescingReporter({ coalesceMs, shard: 0 }), e, ctx, sent, settle: () => Promise.all(pending) };
}

async function logOf(admin: string, keyId: string) {
  const res = await call("GET", `/v1/api-keys/${keyId}/requests?limit=100`, { token: admin });
  expect(res.status).toBe(200);
  return (await res.json<{ data: { at: string; outcome: string }[] }>()).data;
}

async function usageToday(admin: string, keyId: string) {
  const res = await call("GET", `/v1/api-keys/${keyId}/usage?days=1`, { token: admin });
  return (await res.json<{ data: { requests: number; outcomes: Record<string, number> }[] }>()).data[0]!;
}

describe("budgets: over them, calls are counted, not logged, and nothing waits", () => {
  it("a message keeps a key's newest served calls and, apart, its newest refused ones; the rest are counted as dropped", async () => {
    freezeClock();
    const { reporter, e, ctx, sent, settle } = capturingReporter();
    const ws = freshWs();
    const t = Date.now();
    reporter.report(e, ctx, request("key_busy", ws, t)); // a quiet period: sent at once
    for (let i = 1; i <= CALLS_PER_KEY + 50; i++) reporter.report(e, ctx, request("key_busy", ws, t + i));
    for (let i = 1; i <= 5; i++) reporter.report(e, ctx, request("key_busy", ws, t + 1_000 + i, "insufficient_scope"));
    expect(sent).toHaveLength(1); // the rest wait for the end of the window
    // Ending the window: the scheduled send goes.
    await settle();
    expect(sent).toHaveLength(2);
    const [entry] = sent[1]!.flatMap((b) => b.uses);
    const logged = entry!.calls as LoggedCall[];
    expect(
      logged
        .filter((c) => c[1] === 0)
        .map((c) => c[0] - t)
        .sort((a, b) => a - b),
    ).toEqual(Array.from({ length: CALLS_PER_KEY }, (_, i) => 51 + i));
    expect(logged.filter((c) => c[1] !== 0)).toHaveLength(5);
    expect(entry!.dropped).toBe(50);
    // Every call is counted all the same.
    expect(Object.values(entry!.outcomes!)).toEqual([[CALLS_PER_KEY + 50, 5, 0, 0, 0, 0]]);
    expect(Object.values(entry!.days)).toEqual([CALLS_PER_KEY + 55]);
  });

  it("a message keeps at most MAX_CALLS_PER_MESSAGE calls over all keys", async () => {
    freezeClock();
    const { reporter, e, ctx, sent, settle } = capturingReporter();
    const ws = freshWs();
    const keys = Math.ceil(MAX_CALLS_PER_MESSAGE / CALLS_PER_KEY) + 2;
    reporter.report(e, ctx, request("key_first", ws, Date.now()));
    for (let k = 0; k < keys; k++) for (let i = 0; i < CALLS_PER_KEY; i++) reporter.report(e, ctx, request(`key_${k}`, ws, Date.now()));
    await settle();
    const uses = sent[1]!.flatMap((b) => b.uses);
    expect(uses.reduce((n, u) => n + (u.calls?.length ?? 0), 0)).toBe(MAX_CALLS_PER_MESSAGE);
    expect(uses.reduce((n, u) => n + (u.dropped ?? 0), 0)).toBe(keys * CALLS_PER_KEY - MAX_CALLS_PER_MESSAGE);
  });

  it("a shard accepts MAX_CALLS_PER_BATCH calls a batch and CALLS_PER_SECOND a second, refused ones first; the rest are dropped, counted and logged", async () => {
    const clock = freezeClock();
    const logs = captureConsole();
    onTestFinished(logs.restore);
    const n = 13;
    const ws = freshWs();
    const t = Date.now();
    // Calls of many keys (a hundred each, so that no key's retention trims any): what a busy shard receives.
    let next = 0;
    const spread = (count: number, outcome = 0): UseBatch => {
      const uses = [];
      for (let i = 0; i < count; i += 100) {
        const calls: LoggedCall[] = Array.from({ length: Math.min(100, count - i) }, (_, j) => [
          t - j,
          outcome,
          "GET",
          "/v1/key",
          200,
          null,
          null,
        ]);
        uses.push({ keyId: `key_spread_${next++}`, workspaceId: ws, at: null, ip: null, country: null, days: {}, calls });
      }
      return { id: crypto.randomUUID(), uses };
    };
    const stored = () =>
      runInDurableObject(shard(n), (_i, state) =>
        state.storage.sql
          .exec<{ refused: number; n: number }>("SELECT refused, count(*) AS n FROM calls WHERE workspace_id = ? GROUP BY refused", ws)
          .toArray()
          .map((r) => ({ ...r })),
      );
    const dropped = () => logs.events().filter((l) => l.event === "request_log_dropped");

    // A batch over its allowance: its refused call is kept, served ones up to the allowance.
    const over = spread(MAX_CALLS_PER_BATCH);
    over.uses.push(spread(1, 4).uses[0]!);
    await shard(n).record(n, [over]);
    expect(await stored()).toEqual([
      { refused: 0, n: MAX_CALLS_PER_BATCH - 1 },
      { refused: 1, n: 1 },
    ]);
    expect(dropped()).toEqual([
      { level: "warn", event: "request_log_dropped", shard: n, isolate: 0, batch: 1, rate: 0, evicted: 0, erased: 0, failed: 0 },
    ]);

    // In the same second, what the shard's rate has left, then nothing.
    await shard(n).record(n, [spread(CALLS_PER_SECOND - MAX_CALLS_PER_BATCH)]);
    await shard(n).record(n, [spread(10), spread(1, 4)]);
    expect(await stored()).toEqual([
      { refused: 0, n: CALLS_PER_SECOND - 1 },
      { refused: 1, n: 1 },
    ]);
    expect(dropped().slice(1)).toEqual([expect.objectContaining({ batch: 0, rate: 11 })]);

    // A second later the shard accepts calls again.
    clock.advance(1_000);
    await shard(n).record(n, [spread(1, 4)]);
    expect((await stored()).find((r) => r.refused === 1)?.n).toBe(2);
  });
});

describe("exactly once, and at most one window lost", () => {
  it("a batch whose answer was lost is sent again and stored once: entries and counts", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    const k = await createKey(admin);
    let lose = true;
    const lossy = recorderStub((real) => ({
      record: async (n, batches) => {
        await real.record(n, batches);
        if (lose) {
          lose = false;
          throw new Error("Network connection lost.");
        }
      },
    }));
    const isolate = freshIsolate({ shard: 6 });
    const send = async () => {
      const ctx = createExecutionContext();
      const res = await isolate.fetch(
        new Request(`${BASE}/v1/key`, { headers: { Authorization: `Bearer ${k.key}` } }),
        { LAST_USED: lossy },
        ctx,
      );
      await waitOnExecutionContext(ctx);
      expect(res.status).toBe(200);
    };
    await send(); // stored, but the isolate hears a failure and keeps the batch
    await send(); // resent with this one
    expect(await logOf(admin, k.id)).toHaveLength(2);
    expect(await usageToday(admin, k.id)).toMatchObject({ requests: 2, outcomes: { ok: 2 } });
  });

  it("an isolate that dies loses only the calls it had not sent; none is counted twice", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    const k = await createKey(admin);
    // A long window: the first call goes at once, the next ones wait in the isolate.
    const doomed = new Isolate({ coalesceMs: 60_000, shard: 7 });
    for (let i = 0; i < 4; i++) {
      const ctx = createExecutionContext();
      const res = await doomed.fetch(new Request(`${BASE}/v1/key`, { headers: { Authorization: `Bearer ${k.key}` } }), {}, ctx);
      expect(res.status).toBe(200);
      if (i === 0) await waitOnExecutionContext(ctx);
    }
    // The isolate is gone (its scheduled send never runs): another isolate answers the admin.
    freshIsolate({ shard: 8 });
    expect(await logOf(admin, k.id)).toHaveLength(1);
    expect(await usageToday(admin, k.id)).toMatchObject({ requests: 1, outcomes: { ok: 1 } });
  });

  it("rides in the isolate's one message per window: no message of its own, no D1 write", async () => {
    const clock = freezeClock();
    const ws = freshWs();
    const admin = await session(ws);
    const k = await createKey(admin, { scopes: ["sources:read"] });
    const messages: UseBatch[][] = [];
    const d1 = recordingD1();
    const db = d1.binding;
    const counting = recorderStub((real) => ({
      record: (n, batches) => {
        messages.push(batches);
        return real.record(n, batches);
      },
    }));
    const isolate = new Isolate({ coalesceMs: 100, shard: 9 });
    const ctx = createExecutionContext();
    const fetch = (method: string, path: string) =>
      isolate.fetch(
        new Request(`${BASE}${path}`, {
          method,
          headers: { Authorization: `Bearer ${k.key}`, "Content-Type": "application/json" },
          body: method === "POST" ? "{}" : undefined,
        }),
        { LAST_USED: counting, DB: db },
        ctx,
      );
    expect((await fetch("GET", "/v1/key")).status).toBe(200); // warm: the key is in the memo
    clock.advance(1_000);
    const before = messages.length;
    // Served and refused calls (the scope is missing: refused before the route reads anything).
    for (let i = 0; i < 20; i++) expect((await fetch("GET", "/v1/key?x")).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await fetch("POST", "/v1/sources")).status).toBe(403);
    await waitOnExecutionContext(ctx);
    // Nothing but the verification's own reads of the change feed.
    expect(d1.statements.filter((sql) => feedReads([sql]).length === 0)).toEqual([]);
    expect(messages.length - before).toBe(2); // the first call at once, the 24 others together
    expect(await logOf(admin, k.id)).toHaveLength(26);
  });
});

describe("a big message is stored a chunk at a time", () => {
  /** `count` served calls spread over keys of 100 (no key's retention trims any), one per millisecond back from `t`, and their counts. */
  const bigBatch = (ws: string, count: number, t: number): UseBatch => {
    const uses = [];
    for (let i = 0; i < count; i += 100) {
      const calls: LoggedCall[] = Array.from({ length: Math.min(100, count - i) }, (_, j) => [
        t - i - j,
        0,
        "GET",
        "/v1/key",
        200,
        null,
        null,
      ]);
      uses.push({
        keyId: `key_big_${i / 100}`,
        workspaceId: ws,
        at: t,
        ip: null,
        country: null,
        days: { [utcDay(t)]: calls.length },
        calls,
      });
    }
    return { id: crypto.randomUUID(), uses };
  };
  const storedOf = (state: DurableObjectState, ws: string) =>
    state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM calls WHERE workspace_id = ?", ws).one().n;

  /** Runs the shard's transactions through `around(i, fn, real)` (i from 0) until the returned function is called. */
  const wrapTransactions = (
    state: DurableObjectState,
    around: (i: number, fn: () => unknown, real: (fn: () => unknown) => unknown) => unknown,
  ) => {
    const storage = state.storage;
    const real = storage.transactionSync.bind(storage) as (fn: () => unknown) => unknown;
    let i = 0;
    storage.transactionSync = ((fn: () => unknown) => around(i++, fn, real)) as typeof storage.transactionSync;
    return () => {
      storage.transactionSync = real as typeof storage.transactionSync;
    };
  };
  const query = { limit: 10, before: null, outcome: null, since: 0 };

  it(`stores at most CALLS_PER_WRITE (${CALLS_PER_WRITE}) entries per transaction, and answers readers between chunks`, async () => {
    const ws = freshWs();
    const t = Date.now();
    const entries = 8 * CALLS_PER_WRITE + CALLS_PER_WRITE / 2;
    const result = await runInDurableObject(shard(14), async (recorder: LastUsedRecorder, state) => {
      const added: number[] = [];
      const restore = wrapTransactions(state, (_i, fn, real) => {
        const before = storedOf(state, ws);
        const out = real(fn);
        added.push(storedOf(state, ws) - before);
        return out;
      });
      const writing = recorder.record(14, [bigBatch(ws, entries, t)]);
      // The write has stored its first chunk (the oldest calls) and let others in: a reader is answered now.
      const newest = await recorder.calls(14, ws, "key_big_0", query);
      const oldest = await recorder.calls(14, ws, `key_big_${Math.ceil(entries / 100) - 1}`, query);
      await writing;
      restore();
      const newestAfter = await recorder.calls(14, ws, "key_big_0", query);
      return { added, newest: newest.length, oldest: oldest.length, newestAfter: newestAfter.length, stored: storedOf(state, ws) };
    });
    expect(result.added).toEqual([...Array(8).fill(CALLS_PER_WRITE), CALLS_PER_WRITE / 2]);
    expect(result).toMatchObject({ newest: 0, oldest: 10, newestAfter: 10, stored: entries });
  });

  it("a chunk that fails loses only the entries not yet stored: the counts are in, and nothing is stored twice when the batch is sent again", async () => {
    const logs = captureConsole();
    onTestFinished(logs.restore);
    const ws = freshWs();
    const t = Date.now();
    const batch = bigBatch(ws, 5 * CALLS_PER_WRITE, t);
    const result = await runInDurableObject(shard(15), async (recorder: LastUsedRecorder, state) => {
      // The third transaction (the third chunk) fails after its writes, as a full disk would: SQLite rolls it back.
      const restore = wrapTransactions(state, (i, fn, real) =>
        real(() => {
          const out = fn();
          if (i === 2) throw new Error("SQLITE_FULL: database or disk is full");
          return out;
        }),
      );
      await recorder.record(15, [batch]);
      restore();
      const afterFailure = storedOf(state, ws);
      await recorder.record(15, [batch]); // sent again, its answer having been lost: already applied
      const counts = await recorder.dailyCounts(ws, null, utcDay(t));
      return { afterFailure, afterResend: storedOf(state, ws), requests: counts.reduce((n, c) => n + c.requests, 0) };
    });
    expect(result).toEqual({ afterFailure: 2 * CALLS_PER_WRITE, afterResend: 2 * CALLS_PER_WRITE, requests: 5 * CALLS_PER_WRITE });
    expect(logs.events().filter((l) => l.event === "request_log_write_failed")).toEqual([
      expect.objectContaining({ level: "error", shard: 15, entries: 3 * CALLS_PER_WRITE }),
    ]);
    expect(logs.events().filter((l) => l.event === "request_log_dropped")).toEqual([
      expect.objectContaining({ failed: 3 * CALLS_PER_WRITE, batch: 0, rate: 0, evicted: 0 }),
    ]);
  });
});
