import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { deliverToKv } from "../../src/delivery/kv-delivery";
import type { Env } from "../../src/env";
import worker from "../../src/index";
import { REVOKES_PER_BATCH } from "../../src/keys/change";
import { hashKey } from "../../src/keys/format/hash";
import { MAX_KEYS } from "../../src/keys/verify/change-feed";
import { kvKey } from "../../src/keys/verify/kv-copy";
import { failingKv, lostCourier, recordingD1, unreachableD1 } from "../support/bindings";
import { type GithubSigner, githubSigner, publicKeysDocument } from "../support/github-signing";
import { createKey, freezeClock, freshWs, session } from "../support/helpers";
import { buildRequest, Isolate } from "../support/isolate";
import { seedKeys } from "../support/seed";

/**
 * Every change to a key is written to the change log in its own D1 batch,
 * delivered from there to KV by the courier until KV confirms it, and
 * followed by every isolate: a change is refused everywhere within 5 s, and
 * no isolate's death or KV outage can lose it.
 */

interface ChangeRow {
  seq: number;
  key_id: string;
  version: number;
  kind: string;
  actor_id: string;
  details: string | null;
  kv_delivered_at: number | null;
}

const changesOf = async (keyId: string) =>
  (await env.DB.prepare("SELECT * FROM key_changes WHERE key_id = ? ORDER BY seq").bind(keyId).all<ChangeRow>()).results;
const kvCopy = (key: string) => env.KEY_CACHE.get<{ version: number; revokedAt: number | null; name: string }>(kvKey(hashKey(key)), "json");
/** The isolate that makes the change dies before it tells the courier. */
const diesAfterCommit = () => ({ CHANGE_COURIER: lostCourier() });

describe("the change log", () => {
  it("every change writes one row in its own batch, in order, with the key's new version, its actor and what changed", async () => {
    const admin = await session(freshWs(), "admin", "usr_logger");
    const node = new Isolate();
    const k = await createKey(admin, { name: "logged" });
    expect((await node.call("PATCH", `/v1/api-keys/${k.id}`, { token: admin, body: { name: "renamed" } })).status).toBe(200);
    // A PATCH that changes nothing changes nothing, and logs nothing.
    expect((await node.call("PATCH", `/v1/api-keys/${k.id}`, { token: admin, body: { name: "renamed" } })).status).toBe(200);
    const rolled = await (await node.call("POST", `/v1/api-keys/${k.id}/roll`, { token: admin, body: { overlapSeconds: 60 } })).json<{
      id: string;
    }>();
    expect((await node.call("POST", `/v1/api-keys/${k.id}/revoke`, { token: admin })).status).toBe(200);
    expect((await node.call("POST", `/v1/api-keys/${k.id}/revoke`, { token: admin })).status).toBe(200); // again: nothing new

    const old = await changesOf(k.id);
    expect(old.map((c) => [c.kind, c.version, c.actor_id])).toEqual([
      ["created", 1, "usr_logger"],
      ["updated", 2, "usr_logger"],
      ["rolled", 3, "usr_logger"],
      ["revoked", 4, "usr_logger"],
    ]);
    expect(old.map((c) => (c.details === null ? null : JSON.parse(c.details)))).toEqual([
      null,
      { fields: ["name"] },
      { newKeyId: rolled.id, overlapSeconds: 60 },
      { reason: "admin" },
    ]);
    expect(old.map((c) => c.seq)).toEqual([...old.map((c) => c.seq)].sort((a, b) => a - b));
    expect((await changesOf(rolled.id)).map((c) => [c.kind, c.version])).toEqual([["created", 1]]);
  });

  it("a change that does not happen logs nothing: a roll that loses to another leaves no row", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin);
    const node = new Isolate();
    const rolls = await Promise.all([1, 2, 3].map(() => node.call("POST", `/v1/api-keys/${k.id}/roll`, { token: admin })));
    expect(rolls.map((r) => r.status).sort()).toEqual([201, 409, 409]);
    expect((await changesOf(k.id)).map((c) => c.kind)).toEqual(["created", "rolled"]);
  });
});

describe("delivery to KV: the courier", () => {
  it("writes KV after a change and acknowledges the change only then", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin); // settled: the courier ran
    expect(await kvCopy(k.key)).toMatchObject({ version: 1, revokedAt: null });
    expect((await changesOf(k.id)).every((c) => c.kv_delivered_at !== null)).toBe(true);
  });

  it("KV writes failing for an hour: every change waits, retried with growing delays; once KV answers, KV holds the latest state", async () => {
    const clock = freezeClock();
    const admin = await session(freshWs());
    const k = await createKey(admin);
    // Revoked, but the courier is never told (the isolate died) and KV refuses writes for an hour.
    const revoke = buildRequest("POST", `/v1/api-keys/${k.id}/revoke`, { token: admin });
    expect((await new Isolate().fetch(revoke, diesAfterCommit())).status).toBe(200);
    const down = { DB: env.DB, KEY_CACHE: failingKv() };
    const attempts: number[] = [];
    const start = Date.now();
    let next: number | null = Date.now();
    while (next !== null && next - start < 3_600_000) {
      clock.advance(next - Date.now());
      attempts.push(Date.now() - start);
      const report = await deliverToKv(down, Date.now());
      expect(report).toMatchObject({ written: 0, failed: 1 });
      next = report.nextAttemptAt;
    }
    // Still the active copy in KV, and the change still waiting.
    expect(await kvCopy(k.key)).toMatchObject({ revokedAt: null });
    expect((await changesOf(k.id)).at(-1)).toMatchObject({ kind: "revoked", kv_delivered_at: null });
    // Back-off: one second, doubling, then every five minutes (not thousands of tries, not giving up).
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!);
    expect(gaps.slice(0, 5)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000]);
    expect(Math.max(...gaps)).toBe(300_000);
    expect(attempts.length).toBeGreaterThan(12);
    expect(attempts.length).toBeLessThan(30);

    // KV answers again: the next attempt writes the latest state and acknowledges every change.
    clock.advance(next! - Date.now());
    expect(await deliverToKv(env, Date.now())).toMatchObject({ written: 1, failed: 0 });
    expect(await kvCopy(k.key)).toMatchObject({ version: 2, revokedAt: expect.any(Number) });
    expect((await changesOf(k.id)).every((c) => c.kv_delivered_at !== null)).toBe(true);
  });

  it("an isolate that dies after the commit loses nothing: the cron tells the courier, which delivers", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin);
    const revoke = buildRequest("POST", `/v1/api-keys/${k.id}/revoke`, { token: admin });
    expect((await new Isolate().fetch(revoke, diesAfterCommit())).status).toBe(200);
    expect(await kvCopy(k.key)).toMatchObject({ revokedAt: null }); // nobody told the courier

    const ctx = createExecutionContext();
    worker.scheduled!(createScheduledController({ cron: "* * * * *", scheduledTime: Date.now() }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(await kvCopy(k.key)).toMatchObject({ version: 2, revokedAt: expect.any(Number) });
  });

  it("a key KV never had a copy of from the courier (older than the change log) gets one", async () => {
    const [k] = await seedKeys(freshWs(), 1, { kvVersion: null });
    await env.KEY_CACHE.delete(kvKey(hashKey(k!.key)));
    await deliverToKv(env, Date.now());
    expect(await kvCopy(k!.key)).toMatchObject({ version: 1 });
    const row = await env.DB.prepare("SELECT kv_version FROM api_keys WHERE id = ?").bind(k!.id).first<{ kv_version: number }>();
    expect(row?.kv_version).toBe(1);
  });
});

describe("the bound: a change is refused everywhere within 5 s", () => {
  const changes: [string, (admin: string, keyId: string) => Request, number][] = [
    ["a revoke", (admin, id) => buildRequest("POST", `/v1/api-keys/${id}/revoke`, { token: admin }), 401],
    [
      "a PATCH of the allowlist",
      (admin, id) => buildRequest("PATCH", `/v1/api-keys/${id}`, { token: admin, body: { ipAllowlist: ["192.0.2.1"] } }),
      403,
    ],
    ["a roll without overlap", (admin, id) => buildRequest("POST", `/v1/api-keys/${id}/roll`, { token: admin }), 401],
  ];
  const kvStates: [string, () => Partial<Env>][] = [
    ["", () => ({})],
    [", while every KV read and write of the isolates fails", () => ({ KEY_CACHE: failingKv() })],
  ];

  for (const [what, change, refused] of changes) {
    for (const [kvState, kvOverrides] of kvStates) {
      it(`${what} made in one isolate is refused by an isolate in another location that has the key hot${kvState}`, async () => {
        const clock = freezeClock();
        const admin = await session(freshWs());
        const k = await createKey(admin);
        const here = new Isolate({ location: "fra" });
        const there = new Isolate({ location: "sjc" });
        // An address of its own: the failed-auth throttle counts refusals per address.
        const from = { "CF-Connecting-IP": `198.18.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}` };
        const use = async () => (await there.settled(kvOverrides(), "GET", "/v1/key", { token: k.key, headers: from })).status;
        expect(await use()).toBe(200); // hot there

        expect((await here.fetch(change(admin, k.id), kvOverrides())).status).toBeLessThan(300);
        const changedAt = Date.now();
        // The isolate there keeps serving; find when it first refuses, in steps of a quarter second.
        let refusedAfter: number | null = null;
        while (refusedAfter === null && Date.now() - changedAt <= 5_000) {
          const status = await use();
          if (status === refused) refusedAfter = Date.now() - changedAt;
          else expect(status).toBe(200);
          clock.advance(250);
        }
        expect(refusedAfter).not.toBeNull();
        expect(refusedAfter!).toBeLessThanOrEqual(5_000);
        // And from then on, always.
        for (let i = 0; i < 8; i++) {
          clock.advance(250);
          expect(await use()).toBe(refused);
        }
      });
    }
  }

  it("during a mass revocation (more keys changed in the window than a snapshot names) a key revoked now is still refused elsewhere within 5 s, KV lagging", async () => {
    const clock = freezeClock();
    const admin = await session(freshWs());
    const k = await createKey(admin);
    const there = new Isolate({ location: "sjc" });
    const use = async () => (await there.settled({}, "GET", "/v1/key", { token: k.key })).status;
    expect(await use()).toBe(200); // hot there

    // More keys than a snapshot names were changed 10 s ago (ids that sort before any real one).
    const other = freshWs();
    await seedKeys(other, MAX_KEYS + 100, {}, { kv: false });
    await env.DB.batch([
      env.DB.prepare("UPDATE api_keys SET id = 'key_000' || substr(id, 5) WHERE workspace_id = ?").bind(other),
      env.DB.prepare(
        `INSERT INTO key_changes (key_id, workspace_id, version, kind, at, actor_id, kv_delivered_at, kv_next_attempt_at)
         SELECT id, workspace_id, 2, 'revoke', ?2, 'usr_seed', ?3, 0 FROM api_keys WHERE workspace_id = ?1`,
      ).bind(other, Date.now() - 10_000, Date.now() - 5_000),
    ]);

    // Revoked in another location, whose isolate dies before the courier hears of it: KV keeps the active copy.
    const revoke = buildRequest("POST", `/v1/api-keys/${k.id}/revoke`, { token: admin });
    expect((await new Isolate({ location: "fra" }).fetch(revoke, diesAfterCommit())).status).toBe(200);
    const revokedAt = Date.now();
    while ((await use()) === 200 && Date.now() - revokedAt <= 5_000) clock.advance(250);
    expect(await use()).toBe(401);
    expect(Date.now() - revokedAt).toBeLessThanOrEqual(5_000);
  });

  it("a cold isolate in another location, while KV still holds the revoked key's active copy, refuses it at once", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin);
    const revoke = buildRequest("POST", `/v1/api-keys/${k.id}/revoke`, { token: admin });
    expect((await new Isolate({ location: "fra" }).fetch(revoke, diesAfterCommit())).status).toBe(200);
    expect(await kvCopy(k.key)).toMatchObject({ revokedAt: null }); // KV was never told
    expect((await new Isolate({ location: "sjc" }).call("GET", "/v1/key", { token: k.key })).status).toBe(401);
  });

  it("a key revoked in this isolate stays revoked whatever KV says and however long the feed cannot be read", async () => {
    const clock = freezeClock();
    const admin = await session(freshWs());
    const k = await createKey(admin);
    const node = new Isolate();
    expect((await node.call("GET", "/v1/key", { token: k.key })).status).toBe(200);
    // Revoked here; the courier never writes KV (this isolate died as far as KV knows) so KV keeps the active copy.
    expect((await node.fetch(buildRequest("POST", `/v1/api-keys/${k.id}/revoke`, { token: admin }), diesAfterCommit())).status).toBe(200);
    // Then D1 goes away (the feed cannot be read): after the fallback age the isolate reads KV's active copy again.
    const down = { DB: unreachableD1() };
    for (let s = 0; s < 600; s += 10) {
      clock.advance(10_000);
      expect((await node.settled(down, "GET", "/v1/key", { token: k.key })).status).toBe(401);
    }
  });

  it("a new isolate does not trust a KV copy before it has read the feed", async () => {
    freezeClock();
    const admin = await session(freshWs());
    const k = await createKey(admin);
    const rename = buildRequest("PATCH", `/v1/api-keys/${k.id}`, { token: admin, body: { name: "new name" } });
    expect((await new Isolate().fetch(rename, diesAfterCommit())).status).toBe(200);
    expect(await kvCopy(k.key)).toMatchObject({ name: "test key" }); // KV still has the old state
    const cold = new Isolate({ location: "elsewhere" });
    expect(await (await cold.call("GET", "/v1/key", { token: k.key })).json()).toMatchObject({ name: "new name" });
  });
});

describe("rolls never double a key's rate limit", () => {
  it("while the old and the new key of a roll both work, they draw from one budget", async () => {
    freezeClock(Date.UTC(2030, 0, 1, 12, 0, 10));
    const admin = await session(freshWs());
    const node = new Isolate();
    const created = await node.settled({}, "POST", "/v1/api-keys", {
      token: admin,
      body: { name: "limited", scopes: ["sources:read"], rateLimit: { limit: 10, periodSeconds: 60 } },
    });
    const old = await created.json<{ id: string; key: string }>();
    const use = async (key: string) => (await node.call("GET", "/v1/key", { token: key })).status;
    for (let i = 0; i < 6; i++) expect(await use(old.key)).toBe(200);
    const rolled = await (await node.call("POST", `/v1/api-keys/${old.id}/roll`, { token: admin, body: { overlapSeconds: 3600 } })).json<{
      key: string;
    }>();
    for (let i = 0; i < 4; i++) expect(await use(rolled.key)).toBe(200);
    expect(await use(rolled.key)).toBe(429);
    expect(await use(old.key)).toBe(429);
  });
});

describe("a leak report of 1 000 tokens", () => {
  let github: GithubSigner;
  beforeAll(async () => {
    github = await githubSigner();
  });

  it("revokes every key, in batches whose statements do not grow with the report (far inside 1 000 D1 queries)", async () => {
    const keys = await seedKeys(freshWs(), 1_000);
    const body = JSON.stringify(keys.map((k) => ({ token: k.key, type: "owlish_api_key", url: "https://github.com/o/r/blob/x/.env" })));
    const d1 = recordingD1();
    const kvPuts = { n: 0 };
    const kv = new Proxy(env.KEY_CACHE, {
      get(target, prop) {
        if (prop === "put") {
          return (...args: Parameters<KVNamespace["put"]>) => {
            kvPuts.n++;
            return target.put(...args);
          };
        }
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const answer = await new Isolate().fetch(
      buildRequest("POST", "/v1/secret-scanning/github", {
        body,
        headers: { "Content-Type": "application/json", ...(await github.sign(body)) },
      }),
      { DB: d1.binding, KEY_CACHE: kv, SECRET_SCANNING_PUBLIC_KEYS: publicKeysDocument(github) },
    );
    expect(answer.status).toBe(200);
    const revoked = await env.DB.prepare(
      `SELECT count(*) AS n FROM api_keys WHERE revocation_reason = 'leaked' AND id IN (SELECT value FROM json_each(?))`,
    )
      .bind(JSON.stringify(keys.map((k) => k.id)))
      .first<{ n: number }>();
    expect(revoked?.n).toBe(1_000);
    expect(d1.statements.length).toBeLessThan(100);
    expect(kvPuts.n).toBe(0); // the request writes no KV: the courier delivers, a bounded chunk per pass
  });

  it("a batch that fails leaves the ones before it complete and none half done; GitHub's retry revokes the rest, each key once", async () => {
    const keys = await seedKeys(freshWs(), 1_000, {}, { kv: false });
    const ids = JSON.stringify(keys.map((k) => k.id));
    const body = JSON.stringify(keys.map((k) => ({ token: k.key, type: "owlish_api_key", url: "https://github.com/o/r/blob/x/.env" })));
    const report = async (overrides: Partial<Env>) =>
      new Isolate().fetch(
        buildRequest("POST", "/v1/secret-scanning/github", {
          body,
          headers: { "Content-Type": "application/json", ...(await github.sign(body)) },
        }),
        { SECRET_SCANNING_PUBLIC_KEYS: publicKeysDocument(github), ...overrides },
      );
    // D1 drops the connection on the fourth batch of the report.
    let batches = 0;
    const flaky = new Proxy(env.DB, {
      get(target, prop) {
        if (prop === "batch") {
          return (statements: D1PreparedStatement[]) =>
            ++batches === 4 ? Promise.reject(new Error("D1_ERROR: Network connection lost.")) : target.batch(statements);
        }
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    expect((await report({ DB: flaky })).status).toBe(503);
    const count = async (sql: string) => (await env.DB.prepare(sql).bind(ids).first<{ n: number }>())!.n;
    const revokedCount = () =>
      count("SELECT count(*) AS n FROM api_keys WHERE revoked_at IS NOT NULL AND id IN (SELECT value FROM json_each(?))");
    // Whole batches only: the ones before the failure, nothing of the failed one or after it.
    const first = await revokedCount();
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThan(1_000);
    expect(first % REVOKES_PER_BATCH).toBe(0);

    expect((await report({})).status).toBe(200); // GitHub sends the report again
    expect(await revokedCount()).toBe(1_000);
    expect(
      await count(
        "SELECT count(*) AS n FROM audit_events WHERE action = 'api_key.revoked' AND target_key_id IN (SELECT value FROM json_each(?))",
      ),
    ).toBe(1_000);
    expect(
      await count(
        "SELECT count(DISTINCT key_id) AS n FROM key_changes WHERE kind = 'revoked' AND key_id IN (SELECT value FROM json_each(?))",
      ),
    ).toBe(1_000);
    expect(await count("SELECT count(*) AS n FROM key_changes WHERE kind = 'revoked' AND key_id IN (SELECT value FROM json_each(?))")).toBe(
      1_000,
    );
  });
});
