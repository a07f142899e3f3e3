import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { hashKey } from "../../../src/keys/format/hash";
import { isWellFormedKey } from "../../../src/keys/format/key";
import { kvKey } from "../../../src/keys/verify/kv-copy";
import { fetchWith, unreachableD1 } from "../../support/bindings";
import { type AuditEvent, call, createKey, freshWs, type KeyRecord, problem, session } from "../../support/helpers";
import { freshIsolate } from "../../support/isolate";

/** POST /v1/api-keys/{id}/roll: a new key, and the old one kept for an overlap. */

interface Rolled extends KeyRecord {
  key: string;
}

const FROM = { "CF-Connecting-IP": "198.51.100.4", "User-Agent": "roll-test/1.0" };
const use = (key: string) => call("GET", "/v1/key", { token: key });
const roll = (token: string, id: string, body?: unknown) => call("POST", `/v1/api-keys/${id}/roll`, { token, body, headers: FROM });

async function rolled(token: string, id: string, body?: unknown): Promise<Rolled> {
  const res = await roll(token, id, body);
  expect(res.status, await res.clone().text()).toBe(201);
  return res.json();
}

async function getKey(token: string, id: string): Promise<KeyRecord> {
  const res = await call("GET", `/v1/api-keys/${id}`, { token });
  expect(res.status).toBe(200);
  return res.json();
}

async function auditOf(token: string, keyId: string): Promise<AuditEvent[]> {
  const res = await call("GET", `/v1/audit-events?keyId=${keyId}`, { token });
  expect(res.status).toBe(200);
  return (await res.json<{ data: AuditEvent[] }>()).data;
}

async function expectRefused(res: Response, code: string) {
  expect(res.status).toBe(401);
  expect((await problem(res)).code).toBe(code);
}

const successorsOf = async (id: string) =>
  (await env.DB.prepare("SELECT id FROM api_keys WHERE rolled_from = ?").bind(id).all<{ id: string }>()).results;

afterEach(() => {
  vi.useRealTimers();
});

describe("rolling a key", () => {
  it("answers 201 with a new secret (no-store) and the old key's name, scopes, allowlist and rate limit", async () => {
    const admin = await session(freshWs(), "admin", "usr_roller");
    const old = await createKey(admin, { name: "CI deploy", scopes: ["sources:read", "sources:delete"] });
    // Set directly: the old key's guard rails, whatever route set them, go to the new key.
    await env.DB.prepare("UPDATE api_keys SET ip_allowlist = ?, rate_limit = ? WHERE id = ?")
      .bind(JSON.stringify(["203.0.113.0/24", "2001:db8::/32"]), JSON.stringify({ limit: 50, periodSeconds: 60 }), old.id)
      .run();

    const res = await roll(admin, old.id, { overlapSeconds: 3600 });
    expect(res.status).toBe(201);
    expect(res.headers.get("Cache-Control")).toBe("no-store");
    const fresh = await res.json<Rolled>();
    expect(isWellFormedKey(fresh.key)).toBe(true);
    expect(fresh.key).not.toBe(old.key);
    expect(fresh.prefix).toBe(fresh.key.slice(0, 12));
    expect(fresh.id).not.toBe(old.id);
    expect(fresh).toMatchObject({
      name: "CI deploy",
      scopes: ["sources:read", "sources:delete"],
      ipAllowlist: ["203.0.113.0/24", "2001:db8::/32"],
      rateLimit: { limit: 50, periodSeconds: 60 },
      rolledFrom: old.id,
      rolledTo: null,
      createdBy: "usr_roller",
      lastUsedAt: null,
      expiresAt: null,
      revokedAt: null,
      revokedBy: null,
      revocationReason: null,
    });
    // Shown once: reading the new key back never returns the secret.
    const stored = await getKey(admin, fresh.id);
    expect(stored).not.toHaveProperty("key");
    expect(stored).toMatchObject({ rolledFrom: old.id, name: "CI deploy" });

    const before = await getKey(admin, old.id);
    expect(before.rolledTo).toBe(fresh.id);
    expect(before.revokedAt).toBeNull();
    // Only the hash of the new key is stored.
    const row = await env.DB.prepare("SELECT key_hash FROM api_keys WHERE id = ?").bind(fresh.id).first<{ key_hash: string }>();
    expect(row?.key_hash).toBe(hashKey(fresh.key));
  });

  it("without a body rolls with no overlap", async () => {
    const admin = await session(freshWs());
    const old = await createKey(admin);
    const res = await call("POST", `/v1/api-keys/${old.id}/roll`, { token: admin });
    expect(res.status).toBe(201);
    await expectRefused(await use(old.key), "expired_credentials");
    expect((await use((await res.json<Rolled>()).key)).status).toBe(200);
  });

  it("records api_key.rolled on the old key (newKeyId, overlapSeconds) and api_key.created on the new one", async () => {
    const admin = await session(freshWs(), "admin", "usr_ada");
    const old = await createKey(admin);
    const fresh = await rolled(admin, old.id, { overlapSeconds: 90 });

    const onOld = (await auditOf(admin, old.id)).filter((e) => e.action === "api_key.rolled");
    expect(onOld).toEqual([
      expect.objectContaining({
        actorId: "usr_ada",
        keyId: old.id,
        clientIp: "198.51.100.4",
        details: { newKeyId: fresh.id, overlapSeconds: 90 },
      }),
    ]);
    const onNew = await auditOf(admin, fresh.id);
    expect(onNew).toEqual([
      expect.objectContaining({ action: "api_key.created", actorId: "usr_ada", keyId: fresh.id, clientIp: "198.51.100.4" }),
    ]);
  });

  it("rolls the new key in turn: a chain, each link pointing both ways", async () => {
    const admin = await session(freshWs());
    const first = await createKey(admin);
    const second = await rolled(admin, first.id, { overlapSeconds: 60 });
    const third = await rolled(admin, second.id);
    expect(third.rolledFrom).toBe(second.id);
    expect((await getKey(admin, second.id)).rolledTo).toBe(third.id);
    expect((await getKey(admin, first.id)).rolledTo).toBe(second.id);
  });
});

describe("the overlap", () => {
  for (const overlapSeconds of [1, 60, 3_600, 604_800]) {
    it(`${overlapSeconds} s: the old key works until the overlap ends, then answers expired_credentials; the new key works at once`, async () => {
      const start = Date.parse("2031-03-01T12:00:00.000Z");
      vi.useFakeTimers({ toFake: ["Date"], now: start });
      const ws = freshWs();
      const old = await createKey(await session(ws));
      expect((await use(old.key)).status).toBe(200); // warm in this isolate

      const fresh = await rolled(await session(ws), old.id, { overlapSeconds });
      const end = start + overlapSeconds * 1000;
      expect((await getKey(await session(ws), old.id)).expiresAt).toBe(new Date(end).toISOString());
      expect((await use(fresh.key)).status).toBe(200);
      expect((await use(old.key)).status).toBe(200);

      vi.setSystemTime(end - 1);
      expect((await use(old.key)).status).toBe(200);
      expect((await use(fresh.key)).status).toBe(200);

      vi.setSystemTime(end);
      await expectRefused(await use(old.key), "expired_credentials");
      expect((await use(fresh.key)).status).toBe(200);
      // A cold isolate of this location agrees.
      freshIsolate();
      await expectRefused(await use(old.key), "expired_credentials");
      expect((await use(fresh.key)).status).toBe(200);
    });
  }

  it("0: the old key is refused at once in the isolate that rolled it, though it was warm there", async () => {
    const admin = await session(freshWs());
    const old = await createKey(admin);
    for (let i = 0; i < 3; i++) expect((await use(old.key)).status).toBe(200);
    const fresh = await rolled(admin, old.id, { overlapSeconds: 0 });
    await expectRefused(await use(old.key), "expired_credentials");
    expect((await use(fresh.key)).status).toBe(200);
  });

  it("0: a cold isolate learns it from KV (D1 unreachable), and the new key is already in KV", async () => {
    const admin = await session(freshWs());
    const old = await createKey(admin);
    expect((await use(old.key)).status).toBe(200);
    // Settled: the roll's KV writes are done, as they are long before another isolate's next request.
    const res = await fetchWith({}, "POST", `/v1/api-keys/${old.id}/roll`, { token: admin, body: { overlapSeconds: 0 } });
    expect(res.status).toBe(201);
    const fresh = await res.json<Rolled>();

    freshIsolate();
    const noD1 = { DB: unreachableD1() };
    await expectRefused(await fetchWith(noD1, "GET", "/v1/key", { token: old.key }), "expired_credentials");
    expect((await fetchWith(noD1, "GET", "/v1/key", { token: fresh.key })).status).toBe(200);
    const cached = await env.KEY_CACHE.get<{ expiresAt: number }>(kvKey(hashKey(old.key)), "json");
    expect(cached?.expiresAt).toBeLessThanOrEqual(Date.now());
  });

  it("never extends the old key: its own earlier expiry is kept", async () => {
    const start = Date.parse("2031-04-01T00:00:00.000Z");
    vi.useFakeTimers({ toFake: ["Date"], now: start });
    const admin = await session(freshWs());
    const ownExpiry = new Date(start + 120_000).toISOString();
    const old = await createKey(admin, { expiresAt: ownExpiry });
    await rolled(admin, old.id, { overlapSeconds: 3_600 });
    expect((await getKey(admin, old.id)).expiresAt).toBe(ownExpiry);
    vi.setSystemTime(start + 120_000);
    await expectRefused(await use(old.key), "expired_credentials");
  });

  it("shortens a later expiry to the end of the overlap", async () => {
    const start = Date.parse("2031-05-01T00:00:00.000Z");
    vi.useFakeTimers({ toFake: ["Date"], now: start });
    const admin = await session(freshWs());
    const old = await createKey(admin, { expiresAt: new Date(start + 86_400_000).toISOString() });
    await rolled(admin, old.id, { overlapSeconds: 600 });
    expect((await getKey(admin, old.id)).expiresAt).toBe(new Date(start + 600_000).toISOString());
  });
});

describe("the new key's expiresAt", () => {
  it("is what the roll asks for, and the new key stops then", async () => {
    const start = Date.parse("2031-06-01T00:00:00.000Z");
    vi.useFakeTimers({ toFake: ["Date"], now: start });
    const admin = await session(freshWs());
    const old = await createKey(admin);
    const expiresAt = new Date(start + 7 * 86_400_000).toISOString();
    const fresh = await rolled(admin, old.id, { overlapSeconds: 60, expiresAt });
    expect(fresh.expiresAt).toBe(expiresAt);
    expect((await use(fresh.key)).status).toBe(200);
    vi.setSystemTime(Date.parse(expiresAt) - 1);
    expect((await use(fresh.key)).status).toBe(200);
    vi.setSystemTime(Date.parse(expiresAt));
    await expectRefused(await use(fresh.key), "expired_credentials");
  });

  it("is never (null) when not given, whatever the old key's expiry was", async () => {
    const admin = await session(freshWs());
    const old = await createKey(admin, { expiresAt: new Date(Date.now() + 86_400_000).toISOString() });
    expect((await rolled(admin, old.id, { expiresAt: null })).expiresAt).toBeNull();
  });
});

describe("what cannot be rolled", () => {
  it("a revoked key: 409 conflict, and nothing is written", async () => {
    const admin = await session(freshWs());
    const old = await createKey(admin);
    expect((await call("POST", `/v1/api-keys/${old.id}/revoke`, { token: admin })).status).toBe(200);
    const res = await roll(admin, old.id, { overlapSeconds: 60 });
    expect(res.status).toBe(409);
    expect((await problem(res)).code).toBe("conflict");
    expect(await successorsOf(old.id)).toEqual([]);
    expect((await getKey(admin, old.id)).rolledTo).toBeNull();
    expect((await auditOf(admin, old.id)).map((e) => e.action).sort()).toEqual(["api_key.created", "api_key.revoked"]);
  });

  it("a key already rolled (still in its overlap): 409 conflict, its first successor unchanged", async () => {
    const admin = await session(freshWs());
    const old = await createKey(admin);
    const first = await rolled(admin, old.id, { overlapSeconds: 3_600 });
    const res = await roll(admin, old.id, { overlapSeconds: 0 });
    expect(res.status).toBe(409);
    expect((await problem(res)).code).toBe("conflict");
    const after = await getKey(admin, old.id);
    expect(after.rolledTo).toBe(first.id);
    expect(Date.parse(after.expiresAt!)).toBeGreaterThan(Date.now()); // the second roll did not cut the overlap
    expect((await use(old.key)).status).toBe(200);
    expect(await successorsOf(old.id)).toEqual([{ id: first.id }]);
  });

  it("a successor already in the database (the unique index): 409, not 503, and nothing else written", async () => {
    const admin = await session(freshWs());
    const old = await createKey(admin);
    // As if a concurrent roll had inserted its new key: the index on rolled_from refuses a second one.
    await env.DB.prepare(
      "INSERT INTO api_keys (id, workspace_id, name, prefix, key_hash, scopes, created_at, created_by, rolled_from) VALUES (?, 'ws_other', 'x', 'sk_live_xxxx', ?, '[]', 0, 'usr_x', ?)",
    )
      .bind(`key_pre_${crypto.randomUUID()}`, crypto.randomUUID(), old.id)
      .run();
    const res = await roll(admin, old.id);
    expect(res.status).toBe(409);
    expect((await problem(res)).code).toBe("conflict");
    expect((await getKey(admin, old.id)).rolledTo).toBeNull();
    expect((await auditOf(admin, old.id)).map((e) => e.action)).toEqual(["api_key.created"]);
    expect((await use(old.key)).status).toBe(200);
  });

  it("an unknown id, or another workspace's key: the same 404", async () => {
    const theirs = await createKey(await session(freshWs()));
    const admin = await session(freshWs());
    const other = await roll(admin, theirs.id, { overlapSeconds: 0 });
    const unknown = await roll(admin, "key_doesnotexist000000000000");
    expect(other.status).toBe(404);
    expect(unknown.status).toBe(404);
    const [a, b] = [await problem(other), await problem(unknown)];
    expect(a.code).toBe("not_found");
    expect({ ...a, requestId: undefined }).toEqual({ ...b, requestId: undefined });
    // Their key is untouched and still works.
    expect(await successorsOf(theirs.id)).toEqual([]);
    expect((await use(theirs.key)).status).toBe(200);
  });

  it("a member session: 403 forbidden; no session: 401", async () => {
    const ws = freshWs();
    const old = await createKey(await session(ws));
    expect((await problem(await roll(await session(ws, "member"), old.id))).code).toBe("forbidden");
    expect((await problem(await call("POST", `/v1/api-keys/${old.id}/roll`))).code).toBe("missing_credentials");
    // An API key is not a session, even the key being rolled.
    expect((await call("POST", `/v1/api-keys/${old.id}/roll`, { token: old.key })).status).toBe(401);
    expect(await successorsOf(old.id)).toEqual([]);
  });
});

describe("validation", () => {
  const bad: [string, unknown, string][] = [
    ["overlapSeconds below 0", { overlapSeconds: -1 }, "overlapSeconds"],
    ["overlapSeconds above a week", { overlapSeconds: 604_801 }, "overlapSeconds"],
    ["a fractional overlapSeconds", { overlapSeconds: 1.5 }, "overlapSeconds"],
    ["overlapSeconds as a string", { overlapSeconds: "60" }, "overlapSeconds"],
    ["an expiresAt in the past", { expiresAt: "2020-01-01T00:00:00Z" }, "expiresAt"],
    ["an expiresAt that is not a time", { expiresAt: "next week" }, "expiresAt"],
    ["a body that is not an object", [60], ""],
  ];
  for (const [what, body, path] of bad) {
    it(`${what}: 400 invalid_request naming the field, nothing rolled`, async () => {
      const admin = await session(freshWs());
      const old = await createKey(admin);
      const res = await roll(admin, old.id, body);
      expect(res.status).toBe(400);
      const p = await problem(res);
      expect(p.code).toBe("invalid_request");
      expect(p.errors?.map((e) => e.path)).toContain(path);
      expect(await successorsOf(old.id)).toEqual([]);
      expect((await use(old.key)).status).toBe(200);
    });
  }

  it("the bounds themselves are accepted: 0 and 604800", async () => {
    const admin = await session(freshWs());
    for (const overlapSeconds of [0, 604_800]) {
      const old = await createKey(admin);
      expect((await roll(admin, old.id, { overlapSeconds })).status).toBe(201);
    }
  });

  it("malformed JSON: 400", async () => {
    const admin = await session(freshWs());
    const old = await createKey(admin);
    const res = await call("POST", `/v1/api-keys/${old.id}/roll`, {
      token: admin,
      body: "{overlapSeconds:",
      headers: { "Content-Type": "application/json" },
    });
    expect(res.status).toBe(400);
    expect((await problem(res)).code).toBe("invalid_request");
  });
});

describe("concurrent rolls of one key", () => {
  it("exactly one of 8 succeeds; the others answer 409 and one new key exists", async () => {
    const admin = await session(freshWs());
    const old = await createKey(admin);
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => roll(admin, old.id, { overlapSeconds: i * 10 })));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([201, 409, 409, 409, 409, 409, 409, 409]);
    const winner = await results.find((r) => r.status === 201)!.json<Rolled>();
    for (const r of results.filter((r) => r.status === 409)) expect((await problem(r)).code).toBe("conflict");

    expect(await successorsOf(old.id)).toEqual([{ id: winner.id }]);
    expect((await getKey(admin, old.id)).rolledTo).toBe(winner.id);
    const rolls = (await auditOf(admin, old.id)).filter((e) => e.action === "api_key.rolled");
    expect(rolls).toHaveLength(1);
    expect(rolls[0]!.details).toMatchObject({ newKeyId: winner.id });
    expect((await use(winner.key)).status).toBe(200);
  });

  it("from several isolates at once: still exactly one", async () => {
    const admin = await session(freshWs());
    const old = await createKey(admin);
    const results = await Promise.all(
      Array.from({ length: 6 }, () =>
        freshIsolate().call("POST", `/v1/api-keys/${old.id}/roll`, { token: admin, body: { overlapSeconds: 60 } }),
      ),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status === 409)).toHaveLength(5);
    expect(await successorsOf(old.id)).toHaveLength(1);
  });
});

describe("storage failures", () => {
  it("D1 unreachable: 503 unavailable", async () => {
    const admin = await session(freshWs());
    const old = await createKey(admin);
    const res = await fetchWith({ DB: unreachableD1() }, "POST", `/v1/api-keys/${old.id}/roll`, {
      token: admin,
      body: { overlapSeconds: 0 },
    });
    expect(res.status).toBe(503);
    expect((await problem(res)).code).toBe("unavailable");
    expect(await successorsOf(old.id)).toEqual([]);
    expect((await use(old.key)).status).toBe(200);
  });

  it("a statement of the batch fails after the new key was inserted: 503, and neither half is kept", async () => {
    const admin = await session(freshWs());
    const old = await createKey(admin);
    expect((await use(old.key)).status).toBe(200);
    // Every statement touching audit_events fails; the key insert before them succeeded within the batch.
    const brokenAudit = new Proxy(env.DB, {
      get(target, prop) {
        if (prop === "prepare") return (query: string) => target.prepare(query.replaceAll("audit_events", "audit_events_unavailable"));
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const res = await fetchWith({ DB: brokenAudit }, "POST", `/v1/api-keys/${old.id}/roll`, { token: admin, body: { overlapSeconds: 0 } });
    expect(res.status).toBe(503);
    expect((await problem(res)).code).toBe("unavailable");

    expect(await successorsOf(old.id)).toEqual([]);
    const after = await getKey(admin, old.id);
    expect(after).toMatchObject({ rolledTo: null, expiresAt: null });
    expect((await auditOf(admin, old.id)).map((e) => e.action)).toEqual(["api_key.created"]);
    // The old key was not cut off, here or elsewhere.
    expect((await use(old.key)).status).toBe(200);
    freshIsolate();
    expect((await use(old.key)).status).toBe(200);
  });
});
