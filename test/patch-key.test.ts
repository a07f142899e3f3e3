import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Json } from "../src/docs/examples";
import { hashKey } from "../src/keys/format/hash";
import { kvKey } from "../src/keys/verify/kv-copy";
import { createGuardedKey, type KeyRecord, rateHeaders } from "./guard-keys";
import { type AuditEvent, call, freshWs, problem, session } from "./helpers";
import { Isolate, isolate } from "./isolate";
import { fetchWith } from "./worker";

/** PATCH /v1/api-keys/{id}: name, IP allowlist and rate limit; never scopes; never a revoked key. */

afterEach(() => vi.useRealTimers());

const FROM = { "CF-Connecting-IP": "192.0.2.44", "User-Agent": "owlish-console/1.0 (patch test)" };

const patch = (token: string, id: string, body: unknown, headers: Record<string, string> = FROM) =>
  call("PATCH", `/v1/api-keys/${id}`, { token, body, headers });

/** PATCHes and waits for the request's background work (the courier's KV write). */
async function patched(token: string, id: string, body: unknown): Promise<KeyRecord> {
  const res = await isolate().settled({}, "PATCH", `/v1/api-keys/${id}`, { token, body });
  expect(res.status, await res.clone().text()).toBe(200);
  return res.json();
}

async function record(token: string, id: string): Promise<KeyRecord> {
  const res = await call("GET", `/v1/api-keys/${id}`, { token });
  expect(res.status).toBe(200);
  return res.json();
}

async function updates(token: string, keyId: string): Promise<AuditEvent[]> {
  const res = await call("GET", `/v1/audit-events?keyId=${keyId}`, { token });
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: AuditEvent[] }).data.filter((e) => e.action === "api_key.updated");
}

const calling = async (key: string, headers: Record<string, string> = {}, isolate?: Isolate) =>
  isolate ? isolate.call("GET", "/v1/key", { token: key, headers }) : call("GET", "/v1/key", { token: key, headers });

describe("PATCH /v1/api-keys/{id}: changes", () => {
  it("renames a key (trimmed) and records api_key.updated naming the field, by whom and from where", async () => {
    const admin = await session(freshWs(), "admin", "usr_ada");
    const k = await createGuardedKey(admin, { name: "old name" });
    const res = await patch(admin, k.id, { name: "  new name  " });
    expect(res.status).toBe(200);
    expect(res.headers.get("Content-Type")).toMatch(/^application\/json/);
    const body = (await res.json()) as KeyRecord;
    expect(body).toEqual({ ...(await record(admin, k.id)), name: "new name" });
    expect(body.name).toBe("new name");
    // Nothing else moved.
    const { key: _secret, name: _old, ...before } = k;
    const { name: _new, ...after } = body;
    expect(after).toEqual(before);
    expect(JSON.stringify(body)).not.toContain(k.key);

    const events = await updates(admin, k.id);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      action: "api_key.updated",
      actorId: "usr_ada",
      keyId: k.id,
      clientIp: "192.0.2.44",
      userAgent: "owlish-console/1.0 (patch test)",
      details: { fields: ["name"] },
    });
  });

  it("sets an IP allowlist and a rate limit (normalised), then lifts both with [] and null", async () => {
    const admin = await session(freshWs());
    const k = await createGuardedKey(admin);
    const set = await patched(admin, k.id, {
      ipAllowlist: ["203.0.113.7", "2001:DB8::/32", "203.0.113.7/32"],
      rateLimit: { limit: 50, periodSeconds: 10 },
    });
    expect(set.ipAllowlist).toEqual(["203.0.113.7/32", "2001:db8::/32"]);
    expect(set.rateLimit).toEqual({ limit: 50, periodSeconds: 10 });
    expect(await record(admin, k.id)).toMatchObject({
      ipAllowlist: ["203.0.113.7/32", "2001:db8::/32"],
      rateLimit: { limit: 50, periodSeconds: 10 },
    });

    const lifted = await patched(admin, k.id, { ipAllowlist: [], rateLimit: null });
    expect(lifted).toMatchObject({ ipAllowlist: [], rateLimit: null });
    expect((await updates(admin, k.id)).map((e) => e.details)).toEqual([
      { fields: ["ipAllowlist", "rateLimit"] },
      { fields: ["ipAllowlist", "rateLimit"] },
    ]);
  });

  it("names only the fields whose values really change, and records nothing when nothing does", async () => {
    const admin = await session(freshWs());
    const k = await createGuardedKey(admin, { name: "same", ipAllowlist: ["10.0.0.0/8"], rateLimit: { limit: 10, periodSeconds: 60 } });

    // Same values, spelled differently where spelling is free: no change at all.
    const unchanged = await patched(admin, k.id, {
      name: " same ",
      ipAllowlist: ["10.1.2.3/8"],
      rateLimit: { limit: 10, periodSeconds: 60 },
    });
    expect(unchanged).toEqual(await record(admin, k.id));
    expect(await updates(admin, k.id)).toEqual([]);

    await patched(admin, k.id, { name: "same", ipAllowlist: ["10.0.0.0/8"], rateLimit: { limit: 11, periodSeconds: 60 } });
    await patched(admin, k.id, { name: "other", rateLimit: { limit: 11, periodSeconds: 60 } });
    await patched(admin, k.id, { ipAllowlist: ["10.0.0.0/8", "192.0.2.0/24"] });
    // Newest first.
    expect((await updates(admin, k.id)).map((e) => e.details)).toEqual([
      { fields: ["ipAllowlist"] },
      { fields: ["name"] },
      { fields: ["rateLimit"] },
    ]);
  });

  it("an empty body, or one with only fields PATCH does not take, changes nothing: 200 with the record as it is", async () => {
    const admin = await session(freshWs(), "admin", "usr_real");
    const k = await createGuardedKey(admin, { name: "keep" });
    const before = await record(admin, k.id);
    expect(await patched(admin, k.id, {})).toEqual(before);
    // Server-owned fields are ignored, never written.
    const sneaky = await patched(admin, k.id, {
      id: "key_chosenbyclient",
      prefix: "sk_live_chos",
      createdBy: "usr_someone_else",
      createdAt: "2001-01-01T00:00:00.000Z",
      revokedAt: "2001-01-01T00:00:00.000Z",
      revokedBy: "usr_x",
      revocationReason: "admin",
      expiresAt: "2001-01-01T00:00:00.000Z",
      lastUsedAt: "2001-01-01T00:00:00.000Z",
      rolledTo: "key_x",
      workspaceId: "ws_other",
      keyHash: "0".repeat(64),
    });
    expect(sneaky).toEqual(before);
    expect(await record(admin, k.id)).toEqual(before);
    expect(await updates(admin, k.id)).toEqual([]);
    expect((await calling(k.key)).status).toBe(200);
  });
});

describe("PATCH takes effect at once here, and elsewhere through KV", () => {
  it("a new allowlist refuses the next call in this isolate, and a cold isolate reads it from KV", async () => {
    const admin = await session(freshWs());
    const k = await createGuardedKey(admin);
    const outside = { "CF-Connecting-IP": "198.51.100.1" };
    const inside = { "CF-Connecting-IP": "203.0.113.7" };
    expect((await calling(k.key, outside)).status).toBe(200); // warm: the key is in this isolate's memo

    await patched(admin, k.id, { ipAllowlist: ["203.0.113.0/24"] });
    expect((await problem(await calling(k.key, outside))).code).toBe("ip_not_allowed");
    expect((await calling(k.key, inside)).status).toBe(200);

    const cached = await env.KEY_CACHE.get<{ ipAllowlist: string[] }>(kvKey(hashKey(k.key)), "json");
    expect(cached?.ipAllowlist).toEqual(["203.0.113.0/24"]);
    const cold = new Isolate();
    expect((await problem(await calling(k.key, outside, cold))).code).toBe("ip_not_allowed");
    expect((await calling(k.key, inside, cold)).status).toBe(200);

    // And lifting it lets the address in again, at once.
    await patched(admin, k.id, { ipAllowlist: [] });
    expect((await calling(k.key, outside)).status).toBe(200);
    expect((await calling(k.key, outside, new Isolate())).status).toBe(200);
  });

  it("a new name shows at once on GET /v1/key in this isolate and in a cold one", async () => {
    const admin = await session(freshWs());
    const k = await createGuardedKey(admin, { name: "before" });
    expect(((await (await calling(k.key)).json()) as { name: string }).name).toBe("before");
    await patched(admin, k.id, { name: "after" });
    expect(((await (await calling(k.key)).json()) as { name: string }).name).toBe("after");
    expect(((await (await calling(k.key, {}, new Isolate())).json()) as { name: string }).name).toBe("after");
  });

  it("adding, lowering and removing a rate limit apply from the next call", async () => {
    const p = 60_000;
    const start = Math.ceil((Date.now() + 86_400_000) / p) * p;
    vi.useFakeTimers({ toFake: ["Date"], now: start + 1_000 });
    const admin = await session(freshWs());
    const k = await createGuardedKey(admin);
    expect(rateHeaders(await calling(k.key)).policy).toBeNull();

    await patched(admin, k.id, { rateLimit: { limit: 5, periodSeconds: 60 } });
    const first = await calling(k.key);
    expect(rateHeaders(first)).toMatchObject({ policy: '"key";q=5;w=60', rate: '"key";r=4;t=59' });
    expect((await calling(k.key)).status).toBe(200);

    // Two calls already counted in this window; a limit of 2 is used up at once.
    await patched(admin, k.id, { rateLimit: { limit: 2, periodSeconds: 60 } });
    const over = await calling(k.key);
    expect(over.status).toBe(429);
    expect(rateHeaders(over)).toMatchObject({ policy: '"key";q=2;w=60', rate: '"key";r=0;t=59', retryAfter: "59" });

    await patched(admin, k.id, { rateLimit: null });
    const free = await calling(k.key);
    expect(free.status).toBe(200);
    expect(rateHeaders(free)).toEqual({ policy: null, rate: null, retryAfter: null });
  });
});

describe("PATCH refusals", () => {
  it("scopes never change: 400 telling the admin to create another key, and nothing else in the body is applied", async () => {
    const admin = await session(freshWs());
    const k = await createGuardedKey(admin, { name: "fixed", scopes: ["sources:read"] });
    for (const body of [
      { scopes: ["sources:read", "sources:write"] },
      { scopes: ["sources:read"] }, // even the same scopes: the field is not accepted
      { scopes: [] },
      { scopes: null },
      { name: "renamed", scopes: ["sources:delete"] },
    ]) {
      const res = await patch(admin, k.id, body);
      const label = JSON.stringify(body);
      expect(res.status, label).toBe(400);
      const p = await problem(res);
      expect(p.code, label).toBe("invalid_request");
      expect(p.detail, label).toMatch(/create another key/i);
      expect(
        p.errors?.map((e) => e.path),
        label,
      ).toContain("scopes");
    }
    expect(await record(admin, k.id)).toMatchObject({ name: "fixed", scopes: ["sources:read"] });
    expect(await updates(admin, k.id)).toEqual([]);
    expect((await problem(await call("POST", "/v1/sources", { token: k.key, body: { name: "x", type: "text", content: "y" } }))).code).toBe(
      "insufficient_scope",
    );
  });

  it("refuses invalid values with 400 naming each field, and changes nothing", async () => {
    const admin = await session(freshWs());
    const k = await createGuardedKey(admin, { name: "valid" });
    const cases: [unknown, string][] = [
      [{ name: "" }, "name"],
      [{ name: "   " }, "name"],
      [{ name: "x".repeat(101) }, "name"],
      [{ name: 42 }, "name"],
      [{ name: null }, "name"],
      [{ ipAllowlist: ["203.0.113.7", "nope"] }, "ipAllowlist.1"],
      [{ ipAllowlist: Array.from({ length: 21 }, (_, i) => `10.0.0.${i}`) }, "ipAllowlist"],
      [{ ipAllowlist: null }, "ipAllowlist"],
      [{ ipAllowlist: "203.0.113.7" }, "ipAllowlist"],
      [{ rateLimit: { limit: 0, periodSeconds: 60 } }, "rateLimit.limit"],
      [{ rateLimit: { limit: 100_001, periodSeconds: 60 } }, "rateLimit.limit"],
      [{ rateLimit: { limit: 10, periodSeconds: 3601 } }, "rateLimit.periodSeconds"],
      [{ rateLimit: { limit: 10 } }, "rateLimit.periodSeconds"],
      [{ rateLimit: 10 }, "rateLimit"],
      [{ name: "ok", rateLimit: { limit: -1, periodSeconds: 60 } }, "rateLimit.limit"],
    ];
    for (const [body, path] of cases) {
      const res = await patch(admin, k.id, body);
      const label = JSON.stringify(body).slice(0, 60);
      expect(res.status, label).toBe(400);
      const p = await problem(res);
      expect(p.code, label).toBe("invalid_request");
      expect(p.detail, label).toBe("The request body is not valid.");
      expect(
        p.errors?.map((e) => e.path),
        label,
      ).toContain(path);
    }
    for (const raw of ["[]", '"name"', "null", "{not json"]) {
      const res = await call("PATCH", `/v1/api-keys/${k.id}`, { token: admin, body: raw });
      expect(res.status, raw).toBe(400);
      expect((await problem(res)).code, raw).toBe("invalid_request");
    }
    expect((await record(admin, k.id)).name).toBe("valid");
    expect(await updates(admin, k.id)).toEqual([]);
  });

  it("a revoked key cannot be changed: 409 conflict, nothing written, the key stays revoked", async () => {
    const admin = await session(freshWs());
    const k = await createGuardedKey(admin);
    const revoked = (await (await call("POST", `/v1/api-keys/${k.id}/revoke`, { token: admin })).json()) as KeyRecord;
    for (const body of [{ name: "resurrected" }, { ipAllowlist: [] }, { rateLimit: null }, {}, { revokedAt: null }]) {
      const res = await patch(admin, k.id, body);
      expect(res.status, JSON.stringify(body)).toBe(409);
      const p = await problem(res);
      expect(p.code).toBe("conflict");
      expect(p.detail).toMatch(/revoked/);
    }
    expect(await record(admin, k.id)).toEqual(revoked);
    expect(await updates(admin, k.id)).toEqual([]);
    expect((await problem(await calling(k.key))).code).toBe("revoked_api_key");
  });

  it("another workspace's key is 404 exactly like a missing one, and is not changed", async () => {
    const a = await session(freshWs());
    const b = await session(freshWs());
    const theirs = await createGuardedKey(b, { name: "theirs" });
    const other = await patch(a, theirs.id, { name: "mine now" });
    const missing = await patch(a, "key_doesnotexist000000000", { name: "mine now" });
    expect(other.status).toBe(404);
    expect(missing.status).toBe(404);
    const [po, pm] = [await problem(other), await problem(missing)];
    expect({ ...po, requestId: undefined }).toEqual({ ...pm, requestId: undefined });
    expect(po.code).toBe("not_found");
    // Even a revoked key of another workspace is a 404, never a 409 that would reveal it exists.
    expect((await call("POST", `/v1/api-keys/${theirs.id}/revoke`, { token: b })).status).toBe(200);
    expect((await patch(a, theirs.id, { name: "x" })).status).toBe(404);
    expect((await record(b, theirs.id)).name).toBe("theirs");
    expect(await updates(b, theirs.id)).toEqual([]);
  });

  it("admins only: a member is 403 forbidden, an API key or no credential is 401", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    const k = await createGuardedKey(admin, { name: "guarded" });
    expect((await problem(await patch(await session(ws, "member"), k.id, { name: "x" }))).code).toBe("forbidden");
    expect((await problem(await patch(k.key, k.id, { name: "x" }))).code).toBe("invalid_credentials");
    expect((await problem(await call("PATCH", `/v1/api-keys/${k.id}`, { body: { name: "x" } }))).code).toBe("missing_credentials");
    expect((await record(admin, k.id)).name).toBe("guarded");
  });
});

describe("PATCH is one D1 batch", () => {
  it("no change without its audit event: when the event cannot be written, the key is not changed (503)", async () => {
    const admin = await session(freshWs());
    const k = await createGuardedKey(admin, { name: "unchanged" });
    const brokenAudit = new Proxy(env.DB, {
      get(target, prop) {
        if (prop === "prepare") return (query: string) => target.prepare(query.replaceAll("audit_events", "audit_events_unavailable"));
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const res = await fetchWith({ DB: brokenAudit }, "PATCH", `/v1/api-keys/${k.id}`, { token: admin, body: { name: "changed" } });
    expect(res.status).toBe(503);
    expect((await problem(res)).code).toBe("unavailable");
    expect((await record(admin, k.id)).name).toBe("unchanged");
    expect(((await (await calling(k.key)).json()) as { name: string }).name).toBe("unchanged");
  });

  it("concurrent edits: every event names what its own write changed (identical edits record one event)", async () => {
    const admin = await session(freshWs());
    const k = await createGuardedKey(admin, { name: "start" });
    const same = await Promise.all(Array.from({ length: 5 }, () => patch(admin, k.id, { name: "converged" })));
    expect(same.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    for (const r of same) expect(((await r.json()) as KeyRecord).name).toBe("converged");
    expect((await updates(admin, k.id)).map((e) => e.details)).toEqual([{ fields: ["name"] }]);

    const [x, y] = await Promise.all([
      patch(admin, k.id, { name: "by x" }),
      patch(admin, k.id, { rateLimit: { limit: 7, periodSeconds: 60 } }),
    ]);
    expect([x.status, y.status]).toEqual([200, 200]);
    expect(await record(admin, k.id)).toMatchObject({ name: "by x", rateLimit: { limit: 7, periodSeconds: 60 } });
    const fields = (await updates(admin, k.id)).map((e) => (e.details as { fields: string[] }).fields);
    expect(fields.slice(0, 2).sort()).toEqual([["name"], ["rateLimit"]]);
  });
});

describe("OpenAPI", () => {
  it("documents PATCH /v1/api-keys/{id}: name, ipAllowlist, rateLimit (no scopes), 200 record, 400, 404, 409", async () => {
    const doc = (await (await call("GET", "/openapi.json")).json()) as Json;
    const op = doc.paths["/v1/api-keys/{id}"].patch;
    expect(op.operationId).toBe("updateApiKey");
    expect(op.security).toEqual([{ sessionToken: [] }]);
    const ref = op.requestBody.content["application/json"].schema.$ref as string;
    const schema = doc.components.schemas[ref.split("/").pop()!];
    expect(Object.keys(schema.properties).sort()).toEqual(["ipAllowlist", "name", "rateLimit"]);
    expect(schema.required ?? []).toEqual([]);
    expect(schema.properties.rateLimit.properties.limit).toMatchObject({ minimum: 1, maximum: 100000 });
    expect(schema.properties.rateLimit.properties.periodSeconds).toMatchObject({ minimum: 1, maximum: 3600 });
    expect(schema.properties.ipAllowlist.maxItems).toBe(20);
    expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(["200", "400", "401", "403", "404", "409"]));
    expect(Object.keys(op.responses["409"].content["application/problem+json"].examples)).toEqual(["conflict"]);
  });
});
