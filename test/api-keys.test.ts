import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, createKey, expectInvalid, freezeClock, freshWs, type KeyRecord, problem, session, sha256Hex, walkPages } from "./helpers";

/** Key management for admins: create, list, get and revoke. */

interface KeyList {
  data: KeyRecord[];
  nextCursor: string | null;
}

const RECORD_FIELDS = [
  "createdAt",
  "createdBy",
  "expiresAt",
  "id",
  "ipAllowlist",
  "lastUsedAt",
  "lastUsedCountry",
  "lastUsedIp",
  "name",
  "prefix",
  "rateLimit",
  "revocationReason",
  "revokedAt",
  "revokedBy",
  "rolledFrom",
  "rolledTo",
  "scopes",
  "usedAfterRevokeAt",
];
const ALL_SCOPES = ["sources:read", "sources:write", "sources:delete"];
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const HEX64 = /[0-9a-f]{64}/i;

async function post(token: string, body: unknown) {
  return call("POST", "/v1/api-keys", { token, body });
}

async function list(token: string, query = ""): Promise<KeyList> {
  const res = await call("GET", `/v1/api-keys${query}`, { token });
  expect(res.status, `GET /v1/api-keys${query}`).toBe(200);
  return res.json();
}

async function getRecord(token: string, id: string): Promise<KeyRecord> {
  const res = await call("GET", `/v1/api-keys/${id}`, { token });
  expect(res.status).toBe(200);
  return res.json();
}

async function revoke(token: string, id: string) {
  return call("POST", `/v1/api-keys/${id}/revoke`, { token });
}

/** Every page of the key list (`query` e.g. "?status=revoked"), expecting at most `atMost` keys. */
const allPages = (token: string, query: string, limit: number, atMost: number, between?: (pagesSoFar: number) => Promise<void>) =>
  walkPages<KeyRecord>(token, `/v1/api-keys${query}`, { limit, atMost, between });

function expectNoSecret(text: string, key: string, hash: string) {
  expect(text).not.toContain(key);
  expect(text).not.toContain(key.slice(8)); // the random part without sk_live_
  expect(text).not.toContain(hash);
  expect(text).not.toMatch(HEX64);
}

describe("POST /v1/api-keys", () => {
  it("creates a key: 201, the exact record plus key, no-store", async () => {
    const ws = freshWs();
    const admin = await session(ws, "admin", "usr_creator");
    const before = Date.now();
    const res = await post(admin, { name: "Zapier sync", scopes: ["sources:read", "sources:write"] });
    const after = Date.now();
    expect(res.status).toBe(201);
    expect(res.headers.get("Content-Type")).toMatch(/^application\/json/);
    expect(res.headers.get("Cache-Control") ?? "").toMatch(/\bno-store\b/);

    const body = (await res.json()) as KeyRecord & { key: string };
    expect(Object.keys(body).sort()).toEqual([...RECORD_FIELDS, "key"].sort());
    expect(body.id).toMatch(/^key_[0-9A-Za-z]+$/);
    expect(body.name).toBe("Zapier sync");
    expect(body.scopes).toEqual(["sources:read", "sources:write"]);
    expect(body.createdBy).toBe("usr_creator");
    expect(body.lastUsedAt).toBeNull();
    expect(body.expiresAt).toBeNull();
    expect(body.revokedAt).toBeNull();
    expect(body.revokedBy).toBeNull();
    expect(body.revocationReason).toBeNull();
    expect(body.rolledFrom).toBeNull();
    expect(body.rolledTo).toBeNull();
    expect(body.ipAllowlist).toEqual([]);
    expect(body.rateLimit).toBeNull();
    expect(body.lastUsedIp).toBeNull();
    expect(body.lastUsedCountry).toBeNull();
    expect(body.createdAt).toMatch(ISO_UTC);
    const created = Date.parse(body.createdAt);
    expect(created).toBeGreaterThanOrEqual(before - 1000);
    expect(created).toBeLessThanOrEqual(after + 1000);

    expect(body.key).toMatch(/^sk_live_[0-9A-Za-z]+$/);
    expect(body.prefix).toMatch(/^sk_live_/);
    expect(body.key.startsWith(body.prefix)).toBe(true);
    // The prefix identifies the key; it is not the secret.
    expect(body.prefix.length).toBeLessThan(body.key.length - 16);

    const { key, ...record } = body;
    expectNoSecret(JSON.stringify(record), key, await sha256Hex(key));

    // And the key works, in the session's workspace.
    const me = await call("GET", "/v1/key", { token: key });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ id: body.id, workspaceId: ws, prefix: body.prefix });
  });

  it("every key is different, and so is every id", async () => {
    const admin = await session(freshWs());
    const made = await Promise.all(Array.from({ length: 10 }, (_, i) => createKey(admin, { name: `k${i}` })));
    expect(new Set(made.map((k) => k.key)).size).toBe(10);
    expect(new Set(made.map((k) => k.id)).size).toBe(10);
  });

  it("trims the name", async () => {
    const admin = await session(freshWs());
    const res = await post(admin, { name: "  \t CI deploy \n ", scopes: ["sources:read"] });
    expect(res.status).toBe(201);
    const body = (await res.json()) as KeyRecord;
    expect(body.name).toBe("CI deploy");
    expect((await getRecord(admin, body.id)).name).toBe("CI deploy");
  });

  it("accepts names of 1 and 100 characters (100 after trimming)", async () => {
    const admin = await session(freshWs());
    for (const name of ["x", "n".repeat(100), `   ${"m".repeat(100)}   `, "é".repeat(100)]) {
      const res = await post(admin, { name, scopes: ["sources:read"] });
      expect(res.status, JSON.stringify(name)).toBe(201);
      expect(((await res.json()) as KeyRecord).name).toBe(name.trim());
    }
  });

  it.each([
    ["empty", ""],
    ["only spaces", "     "],
    ["only whitespace", " \t\n "],
    ["101 characters", "n".repeat(101)],
    ["far too long", "n".repeat(10_000)],
    ["a number", 42],
    ["null", null],
    ["an array", ["a"]],
  ])("rejects a name that is %s", async (_label, name) => {
    const admin = await session(freshWs());
    await expectInvalid(await post(admin, { name, scopes: ["sources:read"] }), "name");
  });

  it("rejects a missing name", async () => {
    const admin = await session(freshWs());
    await expectInvalid(await post(admin, { scopes: ["sources:read"] }), "name");
  });

  it.each([["sources:read"], ["sources:write"], ["sources:delete"]])("accepts the single scope %s", async (scope) => {
    const admin = await session(freshWs());
    const res = await post(admin, { name: "one scope", scopes: [scope] });
    expect(res.status).toBe(201);
    expect(((await res.json()) as KeyRecord).scopes).toEqual([scope]);
  });

  it("accepts all three scopes and keeps them", async () => {
    const admin = await session(freshWs());
    const created = await createKey(admin, { scopes: ["sources:delete", "sources:read", "sources:write"] });
    expect([...(created.scopes as string[])].sort()).toEqual([...ALL_SCOPES].sort());
    expect([...(await getRecord(admin, created.id)).scopes].sort()).toEqual([...ALL_SCOPES].sort());
  });

  it.each([
    ["missing", undefined, "scopes"],
    ["empty", [], "scopes"],
    ["a string, not a list", "sources:read", "scopes"],
    ["null", null, "scopes"],
    ["an unknown scope", ["sources:admin"], "scopes.0"],
    ["an unknown scope after a good one", ["sources:read", "keys:write"], "scopes.1"],
    ["a scope in the wrong case", ["Sources:Read"], "scopes.0"],
    ["a wildcard", ["*"], "scopes.0"],
    ["a non-string", [1], "scopes.0"],
    ["a repeated scope", ["sources:read", "sources:read"], "scopes"],
    ["a repeat among others", ["sources:read", "sources:write", "sources:read"], "scopes"],
  ])("rejects scopes that are %s", async (_label, scopes, path) => {
    const ws = freshWs();
    const admin = await session(ws);
    await expectInvalid(await post(admin, { name: "bad scopes", scopes }), path);
    // Nothing was created.
    expect((await list(admin)).data).toEqual([]);
  });

  it("accepts a future expiresAt and returns it as ISO 8601 UTC", async () => {
    const admin = await session(freshWs());
    const at = new Date(Date.now() + 30 * 86_400_000);
    at.setUTCMilliseconds(0);
    const created = await createKey(admin, { expiresAt: at.toISOString() });
    expect(created.expiresAt).toBe(at.toISOString());
    expect((await getRecord(admin, created.id)).expiresAt).toBe(at.toISOString());
    // The key works until then.
    const me = await call("GET", "/v1/key", { token: created.key });
    expect(me.status).toBe(200);
    expect(((await me.json()) as { expiresAt: string }).expiresAt).toBe(at.toISOString());
  });

  it("normalises an expiresAt with an offset to the same instant in UTC", async () => {
    const admin = await session(freshWs());
    const created = await createKey(admin, { expiresAt: "2099-06-30T02:00:00+02:00" });
    expect(created.expiresAt).toBe("2099-06-30T00:00:00.000Z");
  });

  it("accepts expiresAt null or omitted: never expires", async () => {
    const admin = await session(freshWs());
    expect((await createKey(admin, { expiresAt: null })).expiresAt).toBeNull();
    expect((await createKey(admin)).expiresAt).toBeNull();
  });

  it.each([
    ["in the past", () => new Date(Date.now() - 60_000).toISOString()],
    ["long ago", () => "2001-01-01T00:00:00Z"],
    ["right now", () => new Date(Date.now()).toISOString()],
    ["not a date", () => "tomorrow"],
    ["an impossible date", () => "2099-13-45T00:00:00Z"],
    ["a number (epoch ms)", () => Date.now() + 86_400_000],
    ["an empty string", () => ""],
    ["an object", () => ({ at: "2099-01-01T00:00:00Z" })],
  ])("rejects expiresAt %s", async (_label, value) => {
    const admin = await session(freshWs());
    await expectInvalid(await post(admin, { name: "bad expiry", scopes: ["sources:read"], expiresAt: value() }), "expiresAt");
  });

  it("names every bad field at once", async () => {
    const admin = await session(freshWs());
    const res = await post(admin, { name: "", scopes: ["nope"], expiresAt: "2001-01-01T00:00:00Z" });
    const body = await expectInvalid(res, "name");
    const paths = body.errors!.map((e) => e.path);
    expect(paths).toContain("scopes.0");
    expect(paths).toContain("expiresAt");
  });

  it.each([
    ["an array", []],
    ["a string", "hello"],
    ["a number", 1],
    ["null", null],
    ["an empty object", {}],
  ])("rejects a body that is %s", async (_label, body) => {
    const admin = await session(freshWs());
    const res = await call("POST", "/v1/api-keys", { token: admin, body: JSON.stringify(body) });
    expect(res.status).toBe(400);
    expect((await problem(res)).code).toBe("invalid_request");
  });

  it("never lets the client choose server-owned fields: they are ignored and the server's values stand", async () => {
    const admin = await session(freshWs(), "admin", "usr_real");
    const res = await post(admin, {
      name: "sneaky",
      scopes: ["sources:read"],
      id: "key_chosenbyclient",
      key: "sk_live_chosenbyclient",
      prefix: "sk_live_chos",
      createdBy: "usr_someone_else",
      createdAt: "2001-01-01T00:00:00.000Z",
      revokedAt: null,
      revokedBy: "usr_x",
      lastUsedAt: "2001-01-01T00:00:00.000Z",
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as KeyRecord & { key: string };
    expect(body.id).not.toBe("key_chosenbyclient");
    expect(body.key).not.toBe("sk_live_chosenbyclient");
    expect(body.key.startsWith(body.prefix)).toBe(true);
    expect(body.createdBy).toBe("usr_real");
    expect(body.createdAt).not.toBe("2001-01-01T00:00:00.000Z");
    expect(body.revokedBy).toBeNull();
    expect(body.lastUsedAt).toBeNull();
    // Stored as the server made it, and the server's key is the one that works.
    const { key, ...record } = body;
    expect(await getRecord(admin, body.id)).toEqual(record);
    expect((await call("GET", "/v1/key", { token: key })).status).toBe(200);
  });
});

describe("GET /v1/api-keys", () => {
  it("an empty workspace lists nothing", async () => {
    const admin = await session(freshWs());
    expect(await list(admin)).toEqual({ data: [], nextCursor: null });
    expect(await list(admin, "?status=revoked")).toEqual({ data: [], nextCursor: null });
  });

  it("lists active keys newest first, by default and with status=active", async () => {
    const clock = freezeClock();
    const admin = await session(freshWs());
    const made: string[] = [];
    for (let i = 0; i < 4; i++) {
      made.push((await createKey(admin, { name: `key ${i}` })).id);
      clock.advance(1_000); // distinct creation times, so "newest" is unambiguous
    }
    const expected = [...made].reverse();
    const byDefault = await list(admin);
    expect(byDefault.data.map((k) => k.id)).toEqual(expected);
    expect(byDefault.nextCursor).toBeNull();
    expect((await list(admin, "?status=active")).data.map((k) => k.id)).toEqual(expected);
    const times = byDefault.data.map((k) => Date.parse(k.createdAt));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
  });

  it("list records have exactly the record fields and never the key or its hash", async () => {
    const admin = await session(freshWs());
    const created = await createKey(admin, { expiresAt: "2099-01-01T00:00:00Z" });
    const res = await call("GET", "/v1/api-keys", { token: admin });
    const text = await res.text();
    expectNoSecret(text, created.key, await sha256Hex(created.key));
    const body = JSON.parse(text) as KeyList;
    expect(Object.keys(body).sort()).toEqual(["data", "nextCursor"]);
    expect(Object.keys(body.data[0]!).sort()).toEqual(RECORD_FIELDS);
    const { key: _key, ...record } = created;
    expect(body.data[0]).toEqual(record);
  });

  it("includes expired keys among the active ones, marked by expiresAt", async () => {
    const clock = freezeClock();
    const admin = await session(freshWs());
    const live = await createKey(admin, { name: "live" });
    clock.advance(1_000);
    const soon = new Date(Date.now() + 60_000).toISOString();
    const expiring = await createKey(admin, { name: "expiring", expiresAt: soon });
    clock.advance(60_001);
    // It has expired: the key no longer works...
    const me = await call("GET", "/v1/key", { token: expiring.key });
    expect(me.status).toBe(401);
    expect((await problem(me)).code).toBe("expired_credentials");
    // ...but it is still listed as active (not revoked), with its expiresAt.
    const active = await list(admin);
    expect(active.data.map((k) => k.id)).toEqual([expiring.id, live.id]);
    expect(active.data[0]!.expiresAt).toBe(new Date(soon).toISOString());
    expect(Date.parse(active.data[0]!.expiresAt!)).toBeLessThan(Date.now());
    expect(active.data[0]!.revokedAt).toBeNull();
    expect((await list(admin, "?status=revoked")).data).toEqual([]);
  });

  it("status=revoked lists revoked keys only, newest revocation first", async () => {
    const clock = freezeClock();
    const admin = await session(freshWs());
    const keys: string[] = [];
    for (let i = 0; i < 4; i++) {
      keys.push((await createKey(admin, { name: `k${i}` })).id);
      clock.advance(1_000);
    }
    const [k0, k1, k2, k3] = keys as [string, string, string, string];
    // Revoke in an order unlike creation order.
    for (const id of [k1, k3, k0]) {
      expect((await revoke(admin, id)).status).toBe(200);
      clock.advance(1_000);
    }
    const revoked = await list(admin, "?status=revoked");
    expect(revoked.data.map((k) => k.id)).toEqual([k0, k3, k1]);
    for (const k of revoked.data) expect(k.revokedAt).toMatch(ISO_UTC);
    const times = revoked.data.map((k) => Date.parse(k.revokedAt!));
    expect([...times].sort((x, y) => y - x)).toEqual(times);
    expect((await list(admin)).data.map((k) => k.id)).toEqual([k2]);
  });

  it.each([
    ["unknown status", "?status=all", "status"],
    ["status in the wrong case", "?status=ACTIVE", "status"],
    ["limit 0", "?limit=0", "limit"],
    ["limit 101", "?limit=101", "limit"],
    ["limit -1", "?limit=-1", "limit"],
    ["limit abc", "?limit=abc", "limit"],
    ["limit 1.5", "?limit=1.5", "limit"],
    ["limit empty", "?limit=", "limit"],
    ["bad cursor", "?cursor=not-a-cursor", "cursor"],
    ["cursor of JSON garbage", `?cursor=${btoa('{"t":"x","id":5}')}`, "cursor"],
    ["cursor that is not JSON", `?cursor=${btoa("hello")}`, "cursor"],
  ])("400 invalid_request for %s", async (_label, query, path) => {
    const admin = await session(freshWs());
    await createKey(admin);
    await expectInvalid(await call("GET", `/v1/api-keys${query}`, { token: admin }), path);
  });

  it("limit=1 and limit=100 are accepted", async () => {
    const clock = freezeClock();
    const admin = await session(freshWs());
    await createKey(admin, { name: "a" });
    clock.advance(1_000);
    await createKey(admin, { name: "b" });
    const one = await list(admin, "?limit=1");
    expect(one.data).toHaveLength(1);
    expect(one.data[0]!.name).toBe("b");
    expect(one.nextCursor).toEqual(expect.any(String));
    const hundred = await list(admin, "?limit=100");
    expect(hundred.data.map((k) => k.name)).toEqual(["b", "a"]);
    expect(hundred.nextCursor).toBeNull();
  });

  it("defaults to 50 per page, and limit=100 returns up to 100", async () => {
    const admin = await session(freshWs());
    const ids = new Set<string>();
    for (let batch = 0; batch < 4; batch++) {
      const made = await Promise.all(Array.from({ length: 15 }, (_, i) => createKey(admin, { name: `bulk ${batch}-${i}` })));
      for (const k of made) ids.add(k.id);
    }
    expect(ids.size).toBe(60);
    const first = await list(admin);
    expect(first.data).toHaveLength(50);
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = await list(admin, `?cursor=${encodeURIComponent(first.nextCursor!)}`);
    expect(second.data).toHaveLength(10);
    expect(second.nextCursor).toBeNull();
    expect(new Set([...first.data, ...second.data].map((k) => k.id))).toEqual(ids);
    const all = await list(admin, "?limit=100");
    expect(all.data).toHaveLength(60);
    expect(all.nextCursor).toBeNull();
  });

  it("a last page that is exactly full has nextCursor null (no empty trailing page)", async () => {
    const admin = await session(freshWs());
    for (let i = 0; i < 4; i++) await createKey(admin, { name: `k${i}` });
    const p1 = await list(admin, "?limit=2");
    expect(p1.data).toHaveLength(2);
    expect(p1.nextCursor).not.toBeNull();
    const p2 = await list(admin, `?limit=2&cursor=${encodeURIComponent(p1.nextCursor!)}`);
    expect(p2.data).toHaveLength(2);
    expect(p2.nextCursor).toBeNull();
  });

  it("pages through many keys (including same-millisecond ones) with no skips or repeats", async () => {
    const admin = await session(freshWs());
    const ids: string[] = [];
    // Created concurrently, so many share a createdAt.
    for (let batch = 0; batch < 3; batch++) {
      const made = await Promise.all(Array.from({ length: 12 }, (_, i) => createKey(admin, { name: `p${batch}-${i}` })));
      ids.push(...made.map((k) => k.id));
    }
    for (const limit of [1, 5, 7, 36, 100]) {
      const pages = await allPages(admin, "", limit, ids.length);
      const seen = pages.flat().map((k) => k.id);
      expect(seen, `limit=${limit}`).toHaveLength(ids.length);
      expect(new Set(seen)).toEqual(new Set(ids));
      const times = pages.flat().map((k) => Date.parse(k.createdAt));
      expect([...times].sort((a, b) => b - a)).toEqual(times);
    }
  });

  it("keys that share one createdAt (and revokedAt) millisecond page without skips or repeats", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    const made = await Promise.all(Array.from({ length: 9 }, (_, i) => createKey(admin, { name: `tie ${i}` })));
    const ids = made.map((k) => k.id);
    // Force an exact tie in storage, as a burst of creations within one millisecond would.
    await env.DB.prepare("UPDATE api_keys SET created_at = ? WHERE workspace_id = ?")
      .bind(Date.now() - 1000, ws)
      .run();
    for (const limit of [1, 2, 4]) {
      const seen = (await allPages(admin, "", limit, ids.length)).flat().map((k) => k.id);
      expect(seen, `limit=${limit}`).toHaveLength(ids.length);
      expect(new Set(seen)).toEqual(new Set(ids));
    }
    await Promise.all(ids.map((id) => revoke(admin, id)));
    await env.DB.prepare("UPDATE api_keys SET revoked_at = ? WHERE workspace_id = ?").bind(Date.now(), ws).run();
    for (const limit of [1, 2, 4]) {
      const seen = (await allPages(admin, "?status=revoked", limit, ids.length)).flat().map((k) => k.id);
      expect(seen, `revoked limit=${limit}`).toHaveLength(ids.length);
      expect(new Set(seen)).toEqual(new Set(ids));
    }
  });

  it("no skips or repeats when keys are created between page fetches", async () => {
    const admin = await session(freshWs());
    const original: string[] = [];
    for (let i = 0; i < 20; i++) original.push((await createKey(admin, { name: `orig ${i}` })).id);
    const added: string[] = [];
    const pages = await allPages(admin, "", 6, original.length, async () => {
      for (let i = 0; i < 3; i++) added.push((await createKey(admin, { name: "added meanwhile" })).id);
    });
    const seen = pages.flat().map((k) => k.id);
    expect(new Set(seen).size).toBe(seen.length); // no repeats
    for (const id of original) expect(seen).toContain(id); // no skips
    for (const id of seen) expect([...original, ...added]).toContain(id);
    // And a fresh listing shows everything.
    const everything = (await allPages(admin, "", 100, original.length + added.length)).flat().map((k) => k.id);
    expect(new Set(everything)).toEqual(new Set([...original, ...added]));
  });

  it("no skips or repeats when keys are revoked between page fetches", async () => {
    const admin = await session(freshWs());
    const original: string[] = [];
    for (let i = 0; i < 18; i++) original.push((await createKey(admin, { name: `orig ${i}` })).id);
    const newestFirst = [...(await list(admin, "?limit=100")).data.map((k) => k.id)];
    const revokedMeanwhile = new Set<string>();
    const pages = await allPages(admin, "", 5, original.length, async (shown) => {
      // Revoke two keys of the page just shown: an offset-based cursor would now skip two.
      for (const id of newestFirst.slice((shown - 1) * 5, (shown - 1) * 5 + 2)) {
        expect((await revoke(admin, id)).status).toBe(200);
        revokedMeanwhile.add(id);
      }
    });
    const seen = pages.flat().map((k) => k.id);
    expect(new Set(seen).size).toBe(seen.length);
    expect(new Set(seen)).toEqual(new Set(original));
    // The revoked list paginates too.
    const revokedPages = (await allPages(admin, "?status=revoked", 2, revokedMeanwhile.size)).flat().map((k) => k.id);
    expect(new Set(revokedPages)).toEqual(revokedMeanwhile);
    expect(revokedPages).toHaveLength(revokedMeanwhile.size);
  });

  it("pages through revoked keys revoked in the same millisecond without skips or repeats", async () => {
    const admin = await session(freshWs());
    const made = await Promise.all(Array.from({ length: 12 }, (_, i) => createKey(admin, { name: `r${i}` })));
    await Promise.all(made.map((k) => revoke(admin, k.id)));
    for (const limit of [1, 4, 5]) {
      const seen = (await allPages(admin, "?status=revoked", limit, made.length)).flat().map((k) => k.id);
      expect(seen).toHaveLength(12);
      expect(new Set(seen)).toEqual(new Set(made.map((k) => k.id)));
    }
  });
});

describe("GET /v1/api-keys/{id}", () => {
  it("returns the record, exactly as created minus the key", async () => {
    const admin = await session(freshWs(), "admin", "usr_getter");
    const created = await createKey(admin, { name: "get me", scopes: ["sources:read"], expiresAt: "2099-01-01T00:00:00.000Z" });
    const res = await call("GET", `/v1/api-keys/${created.id}`, { token: admin });
    expect(res.status).toBe(200);
    const text = await res.text();
    expectNoSecret(text, created.key, await sha256Hex(created.key));
    const record = JSON.parse(text) as KeyRecord;
    expect(Object.keys(record).sort()).toEqual(RECORD_FIELDS);
    const { key: _key, ...expected } = created;
    expect(record).toEqual(expected);
    expect(record).toMatchObject({
      name: "get me",
      scopes: ["sources:read"],
      createdBy: "usr_getter",
      expiresAt: "2099-01-01T00:00:00.000Z",
    });
  });

  it.each(["key_doesnotexist000000000000", "key_", "x", "src_notakey", "%20", "sk_live_abc"])(
    "404 not_found for unknown id %j",
    async (id) => {
      const admin = await session(freshWs());
      await createKey(admin);
      const res = await call("GET", `/v1/api-keys/${id}`, { token: admin });
      expect(res.status).toBe(404);
      const body = await problem(res);
      expect(body.code).toBe("not_found");
      expect(body.status).toBe(404);
    },
  );

  it("a key of another workspace is 404, like an unknown one", async () => {
    const mine = await session(freshWs());
    const theirs = await createKey(await session(freshWs()));
    const res = await call("GET", `/v1/api-keys/${theirs.id}`, { token: mine });
    expect(res.status).toBe(404);
    expect((await problem(res)).code).toBe("not_found");
  });
});

describe("POST /v1/api-keys/{id}/revoke", () => {
  it("revokes: 200 with revokedAt and revokedBy, and the key stops working at once", async () => {
    const ws = freshWs();
    const creator = await session(ws, "admin", "usr_alice");
    const revoker = await session(ws, "admin", "usr_bob");
    const created = await createKey(creator);
    // Used before revocation, so any cache has seen it as valid.
    expect((await call("GET", "/v1/key", { token: created.key })).status).toBe(200);
    expect((await call("GET", "/v1/key", { token: created.key })).status).toBe(200);

    const before = Date.now();
    const res = await revoke(revoker, created.id);
    const after = Date.now();
    expect(res.status).toBe(200);
    const text = await res.text();
    expectNoSecret(text, created.key, await sha256Hex(created.key));
    const record = JSON.parse(text) as KeyRecord;
    expect(Object.keys(record).sort()).toEqual(RECORD_FIELDS);
    expect(record.id).toBe(created.id);
    expect(record.createdBy).toBe("usr_alice");
    expect(record.revokedBy).toBe("usr_bob");
    expect(record.revocationReason).toBe("admin");
    expect(record.revokedAt).toMatch(ISO_UTC);
    expect(Date.parse(record.revokedAt!)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(record.revokedAt!)).toBeLessThanOrEqual(after + 1000);

    for (let i = 0; i < 3; i++) {
      const me = await call("GET", "/v1/key", { token: created.key });
      expect(me.status).toBe(401);
      expect(me.headers.get("WWW-Authenticate") ?? "").toMatch(/^Bearer/);
      expect((await problem(me)).code).toBe("revoked_api_key");
    }
    const sources = await call("GET", "/v1/sources", { token: created.key });
    expect(sources.status).toBe(401);
    expect((await problem(sources)).code).toBe("revoked_api_key");
  });

  it("revoking again: 200, the first revokedAt (and revokedBy) unchanged", async () => {
    const clock = freezeClock();
    const ws = freshWs();
    const first = await session(ws, "admin", "usr_first");
    const second = await session(ws, "admin", "usr_second");
    const created = await createKey(first);
    const r1 = (await (await revoke(first, created.id)).json()) as KeyRecord;
    clock.advance(60_000); // a later revoke would stamp a later time
    const res = await revoke(second, created.id);
    expect(res.status).toBe(200);
    const r2 = (await res.json()) as KeyRecord;
    expect(r2.revokedAt).toBe(r1.revokedAt);
    expect(r2.revokedBy).toBe("usr_first");
    expect(r2).toEqual(r1);
    expect(await getRecord(second, created.id)).toEqual(r1);
    // Still listed once among the revoked.
    expect((await list(first, "?status=revoked")).data.map((k) => k.id)).toEqual([created.id]);
  });

  it("concurrent revokes agree on one revokedAt", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    const created = await createKey(admin);
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, _i) => revoke(admin, created.id).then((r) => r.json() as Promise<KeyRecord>)),
    );
    const stamps = new Set(results.map((r) => r.revokedAt));
    expect(stamps.size).toBe(1);
    expect((await getRecord(admin, created.id)).revokedAt).toBe(results[0]!.revokedAt);
  });

  it("moves the key from the active list to the revoked list", async () => {
    const admin = await session(freshWs());
    const keep = await createKey(admin, { name: "keep" });
    const drop = await createKey(admin, { name: "drop" });
    expect(new Set((await list(admin)).data.map((k) => k.id))).toEqual(new Set([keep.id, drop.id]));
    expect((await revoke(admin, drop.id)).status).toBe(200);
    expect((await list(admin)).data.map((k) => k.id)).toEqual([keep.id]);
    const revoked = await list(admin, "?status=revoked");
    expect(revoked.data.map((k) => k.id)).toEqual([drop.id]);
    expect(revoked.data[0]!.revokedAt).toMatch(ISO_UTC);
    const text = JSON.stringify(revoked);
    expectNoSecret(text, drop.key, await sha256Hex(drop.key));
    // The other key is untouched.
    expect((await call("GET", "/v1/key", { token: keep.key })).status).toBe(200);
  });

  it("revoking an expired key works and files it under revoked", async () => {
    const clock = freezeClock();
    const admin = await session(freshWs());
    const created = await createKey(admin, { expiresAt: new Date(Date.now() + 60_000).toISOString() });
    clock.advance(60_000);
    expect((await problem(await call("GET", "/v1/key", { token: created.key }))).code).toBe("expired_credentials");
    const res = await revoke(admin, created.id);
    expect(res.status).toBe(200);
    expect(((await res.json()) as KeyRecord).revokedAt).toMatch(ISO_UTC);
    expect((await list(admin)).data).toEqual([]);
    expect((await list(admin, "?status=revoked")).data.map((k) => k.id)).toEqual([created.id]);
    const me = await call("GET", "/v1/key", { token: created.key });
    expect(me.status).toBe(401);
  });

  it.each(["key_doesnotexist000000000000", "nope"])("404 not_found for unknown id %j", async (id) => {
    const admin = await session(freshWs());
    const res = await revoke(admin, id);
    expect(res.status).toBe(404);
    expect((await problem(res)).code).toBe("not_found");
  });

  it("cannot revoke another workspace's key (404) and that key keeps working", async () => {
    const theirs = await createKey(await session(freshWs()));
    const res = await revoke(await session(freshWs()), theirs.id);
    expect(res.status).toBe(404);
    expect((await problem(res)).code).toBe("not_found");
    expect((await call("GET", "/v1/key", { token: theirs.key })).status).toBe(200);
  });

  it("nothing un-revokes a key", async () => {
    const admin = await session(freshWs());
    const created = await createKey(admin);
    const revoked = (await (await revoke(admin, created.id)).json()) as KeyRecord;
    const attempts: [string, string, unknown?][] = [
      ["PATCH", `/v1/api-keys/${created.id}`, { revokedAt: null, revokedBy: null }],
      ["PUT", `/v1/api-keys/${created.id}`, { name: "x", scopes: ["sources:read"], revokedAt: null }],
      ["DELETE", `/v1/api-keys/${created.id}`],
      ["DELETE", `/v1/api-keys/${created.id}/revoke`],
      ["POST", `/v1/api-keys/${created.id}/unrevoke`],
      ["POST", `/v1/api-keys/${created.id}/restore`],
      ["POST", `/v1/api-keys/${created.id}/reactivate`],
      ["POST", `/v1/api-keys/${created.id}/activate`],
      ["POST", `/v1/api-keys/${created.id}`, { revokedAt: null }],
      ["PATCH", `/v1/api-keys/${created.id}/revoke`, { revoked: false }],
      ["POST", `/v1/api-keys/${created.id}/revoke`, { undo: true, revoked: false, revokedAt: null }],
    ];
    for (const [method, path, body] of attempts) {
      const res = await call(method, path, { token: admin, body });
      const label = `${method} ${path}`;
      if (path.endsWith("/revoke") && method === "POST") {
        // Revoking again is allowed, and stays revoked.
        expect(res.status, label).toBe(200);
        expect(((await res.json()) as KeyRecord).revokedAt, label).toBe(revoked.revokedAt);
      } else if (method === "PATCH" && path === `/v1/api-keys/${created.id}`) {
        // Editing exists, but a revoked key cannot be edited at all (and revokedAt is not a field it takes).
        expect(res.status, label).toBe(409);
        expect((await problem(res)).code, label).toBe("conflict");
      } else {
        expect([404, 405], label).toContain(res.status);
        await problem(res);
      }
    }
    expect(await getRecord(admin, created.id)).toEqual(revoked);
    expect((await list(admin)).data).toEqual([]);
    const me = await call("GET", "/v1/key", { token: created.key });
    expect(me.status).toBe(401);
    expect((await problem(me)).code).toBe("revoked_api_key");
  });
});
