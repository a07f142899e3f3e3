import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { AUDIT_ACTIONS } from "../../src/audit/events";
import { AuditEventSchema } from "../../src/routes/audit-events/list";
import { fetchWith } from "../support/bindings";
import { type AuditEvent, call, freshWs, problem, session } from "../support/helpers";
import { githubSigning } from "../support/operations";

/** The audit trail: who created and revoked which key, when and from where. */

interface Page {
  data: AuditEvent[];
  nextCursor: string | null;
}

const FROM = { "CF-Connecting-IP": "203.0.113.7", "User-Agent": "owlish-console/1.0 (audit test)" };

async function events(token: string, query = ""): Promise<Page> {
  const res = await call("GET", `/v1/audit-events${query}`, { token });
  expect(res.status, `GET /v1/audit-events${query}`).toBe(200);
  return res.json();
}

async function create(token: string, headers: Record<string, string> = FROM) {
  const res = await call("POST", "/v1/api-keys", { token, headers, body: { name: "audited", scopes: ["sources:read"] } });
  expect(res.status).toBe(201);
  return res.json<{ id: string; key: string; createdAt: string }>();
}

const revoke = (token: string, id: string, headers: Record<string, string> = FROM) =>
  call("POST", `/v1/api-keys/${id}/revoke`, { token, headers });

/** A D1 binding on which every statement touching audit_events fails, as if that write broke. */
function d1WithBrokenAuditTable(): D1Database {
  return new Proxy(env.DB, {
    get(target, prop) {
      if (prop === "prepare") {
        return (query: string) => target.prepare(query.replaceAll("audit_events", "audit_events_unavailable"));
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

describe("each action's details have the shape the document gives that action", () => {
  it("real events of every action (revokes by an admin, by the key itself and by a leak report) parse with AuditEvent, nothing left over", async () => {
    const admin = await session(freshWs());
    const leaked = await create(admin);
    const rolled = await create(admin);
    const edited = await create(admin);
    const self = await create(admin);
    expect((await revoke(admin, (await create(admin)).id)).status).toBe(200);
    expect((await call("POST", `/v1/api-keys/${rolled.id}/roll`, { token: admin, body: { overlapSeconds: 60 } })).status).toBe(201);
    expect(
      (
        await call("PATCH", `/v1/api-keys/${edited.id}`, {
          token: admin,
          body: { name: "edited", rateLimit: { limit: 5, periodSeconds: 60 } },
        })
      ).status,
    ).toBe(200);
    expect((await call("POST", "/v1/key/revoke", { token: self.key })).status).toBe(200);
    const report = JSON.stringify([
      { token: leaked.key, type: "owlish_api_key", url: "https://github.com/octo/leaky/blob/1/.env", source: "content" },
    ]);
    const signing = await githubSigning();
    const headers = { "Content-Type": "application/json", ...(await signing.signer.sign(report)) };
    expect((await fetchWith(signing.env, "POST", "/v1/secret-scanning/github", { body: report, headers })).status).toBe(200);

    // The webhook endpoint's changes: created, updated, deleted.
    const endpoint = await (await call("POST", "/v1/webhooks", { token: admin, body: { url: "https://hooks.example.com/audit" } })).json<{
      id: string;
    }>();
    expect((await call("PATCH", `/v1/webhooks/${endpoint.id}`, { token: admin, body: { description: "audited" } })).status).toBe(200);
    expect((await call("DELETE", `/v1/webhooks/${endpoint.id}`, { token: admin })).status).toBe(204);

    // The key policy's change.
    expect(
      (
        await call("PUT", "/v1/key-policy", {
          token: admin,
          body: { maxLifetimeDays: 90, requireIpAllowlist: false, idleRevokeDays: null },
        })
      ).status,
    ).toBe(200);

    const all = (await events(admin, "?limit=100")).data;
    for (const event of all) {
      const parsed = AuditEventSchema.safeParse(event);
      expect(parsed.error, JSON.stringify(event)).toBeUndefined();
      // Nothing the schema does not name (an object schema drops unknown fields): details are exactly as documented.
      expect(parsed.data, JSON.stringify(event)).toEqual(event);
    }
    expect([...new Set(all.map((e) => e.action))].sort()).toEqual([...AUDIT_ACTIONS].sort());
    const reasons = all.flatMap((e) => (e.action === "api_key.revoked" ? [e.details.reason] : []));
    expect(reasons.sort()).toEqual(["admin", "leaked", "self"]);
  });
});

describe("audit events are recorded", () => {
  it("records a creation with actor, workspace, key, client IP, user agent and time", async () => {
    const ws = freshWs();
    const admin = await session(ws, "admin", "usr_ada");
    const k = await create(admin);
    const page = await events(admin);
    expect(page.data).toHaveLength(1);
    const [event] = page.data;
    expect(event).toEqual({
      id: expect.stringMatching(/^evt_[0-9A-Za-z]{24}$/),
      action: "api_key.created",
      workspaceId: ws,
      actorId: "usr_ada",
      keyId: k.id,
      webhookId: null,
      clientIp: "203.0.113.7",
      userAgent: "owlish-console/1.0 (audit test)",
      createdAt: k.createdAt,
      details: null,
    });
    // Never the key, nor its hash.
    expect(JSON.stringify(page)).not.toContain(k.key);
    expect(JSON.stringify(page)).not.toMatch(/[0-9a-f]{64}/);
  });

  it("records a revocation once: a second revoke adds nothing and the first event stands", async () => {
    const admin = await session(freshWs(), "admin", "usr_ada");
    const other = await session(JSON.parse(atob(admin.split(".")[1]!)).ws, "admin", "usr_bob");
    const k = await create(admin);
    const first = await revoke(admin, k.id);
    const revokedAt = (await first.json<{ revokedAt: string }>()).revokedAt;
    expect((await revoke(other, k.id, { "CF-Connecting-IP": "198.51.100.9" })).status).toBe(200);

    const revokes = (await events(admin)).data.filter((e) => e.action === "api_key.revoked");
    expect(revokes).toHaveLength(1);
    expect(revokes[0]).toMatchObject({
      keyId: k.id,
      actorId: "usr_ada",
      clientIp: "203.0.113.7",
      createdAt: revokedAt,
      details: { reason: "admin" },
    });
  });

  it("keeps null for a missing client IP or user agent", async () => {
    const admin = await session(freshWs());
    await create(admin, {});
    const [event] = (await events(admin)).data;
    expect(event).toMatchObject({ clientIp: null, userAgent: null });
  });

  it("bounds a huge User-Agent to 512 characters", async () => {
    const admin = await session(freshWs());
    await create(admin, { "User-Agent": "x".repeat(5000) });
    expect((await events(admin)).data[0]!.userAgent).toHaveLength(512);
  });

  it("records nothing for a refused change: unknown key, other workspace, invalid body", async () => {
    const a = await session(freshWs());
    const b = await session(freshWs());
    const theirs = await create(b);
    expect((await revoke(a, theirs.id)).status).toBe(404);
    expect((await revoke(a, "key_doesnotexist")).status).toBe(404);
    expect((await call("POST", "/v1/api-keys", { token: a, body: { name: "", scopes: [] } })).status).toBe(400);
    expect((await events(a)).data).toEqual([]);
    expect((await events(b)).data.map((e) => e.action)).toEqual(["api_key.created"]);
  });
});

describe("the change and its event are one D1 batch", () => {
  it("does not create a key whose audit event cannot be written", async () => {
    const admin = await session(freshWs());
    const res = await fetchWith({ DB: d1WithBrokenAuditTable() }, "POST", "/v1/api-keys", {
      token: admin,
      body: { name: "unaudited", scopes: ["sources:read"] },
    });
    expect(res.status).toBe(503);
    expect((await problem(res)).code).toBe("unavailable");
    const keys = await (await call("GET", "/v1/api-keys", { token: admin })).json<{ data: unknown[] }>();
    expect(keys.data).toEqual([]);
  });

  it("does not revoke a key whose audit event cannot be written", async () => {
    const admin = await session(freshWs());
    const k = await create(admin);
    const res = await fetchWith({ DB: d1WithBrokenAuditTable() }, "POST", `/v1/api-keys/${k.id}/revoke`, { token: admin });
    expect(res.status).toBe(503);
    const record = await (await call("GET", `/v1/api-keys/${k.id}`, { token: admin })).json<{ revokedAt: string | null }>();
    expect(record.revokedAt).toBeNull();
    expect((await call("GET", "/v1/key", { token: k.key })).status).toBe(200);
    // Retrying once storage is back revokes it, with exactly one event.
    expect((await revoke(admin, k.id)).status).toBe(200);
    expect((await events(admin)).data.map((e) => e.action)).toEqual(["api_key.revoked", "api_key.created"]);
  });

  it("refuses a second revoke event at the database level too", async () => {
    const admin = await session(freshWs());
    const k = await create(admin);
    await revoke(admin, k.id);
    const insert = () =>
      env.DB.prepare(
        `INSERT INTO audit_events (id, workspace_id, action, actor_id, target_key_id, created_at) VALUES (?, 'ws', 'api_key.revoked', 'u', ?, 1)`,
      )
        .bind(`evt_dup_${crypto.randomUUID()}`, k.id)
        .run();
    await expect(insert()).rejects.toThrow(/UNIQUE/);
  });
});

describe("GET /v1/audit-events", () => {
  it("lists newest first, pages with limit and cursor, and filters by keyId", async () => {
    const admin = await session(freshWs());
    const keys = [];
    for (let i = 0; i < 3; i++) keys.push(await create(admin));
    await revoke(admin, keys[0]!.id);

    const all = (await events(admin, "?limit=100")).data;
    expect(all.map((e) => [e.action, e.keyId])).toEqual([
      ["api_key.revoked", keys[0]!.id],
      ["api_key.created", keys[2]!.id],
      ["api_key.created", keys[1]!.id],
      ["api_key.created", keys[0]!.id],
    ]);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Page = await events(admin, `?limit=1${cursor ? `&cursor=${cursor}` : ""}`);
      expect(page.data.length).toBeLessThanOrEqual(1);
      seen.push(...page.data.map((e) => e.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    expect(seen).toEqual(all.map((e) => e.id));

    const ofFirst = await events(admin, `?keyId=${keys[0]!.id}`);
    expect(ofFirst.data.map((e) => e.action)).toEqual(["api_key.revoked", "api_key.created"]);
    expect((await events(admin, "?keyId=key_unknown")).data).toEqual([]);
  });

  it("never shows another workspace's events, even filtered by their key id", async () => {
    const a = await session(freshWs());
    const b = await session(freshWs());
    const theirs = await create(b);
    expect((await events(a)).data).toEqual([]);
    expect((await events(a, `?keyId=${theirs.id}`)).data).toEqual([]);
  });

  it("is for admins: member 403, no credentials 401, an API key 401", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    const k = await create(admin);
    const member = await session(ws, "member");
    expect((await problem(await call("GET", "/v1/audit-events", { token: member }))).code).toBe("forbidden");
    expect((await problem(await call("GET", "/v1/audit-events"))).code).toBe("missing_credentials");
    expect((await problem(await call("GET", "/v1/audit-events", { token: k.key }))).code).toBe("invalid_credentials");
  });

  it("refuses bad queries with 400 problem+json", async () => {
    const admin = await session(freshWs());
    for (const q of ["?limit=0", "?limit=101", "?limit=x", "?cursor=%%%", "?cursor=bm90LWpzb24", "?keyId=", `?keyId=${"k".repeat(201)}`]) {
      const res = await call("GET", `/v1/audit-events${q}`, { token: admin });
      expect(res.status, q).toBe(400);
      expect((await problem(res)).code).toBe("invalid_request");
    }
  });

  it("has no route that changes or deletes an event", async () => {
    const admin = await session(freshWs());
    await create(admin);
    const [event] = (await events(admin)).data;
    for (const method of ["POST", "PUT", "PATCH", "DELETE"]) {
      for (const path of ["/v1/audit-events", `/v1/audit-events/${event!.id}`]) {
        const res = await call(method, path, { token: admin, body: { action: "api_key.deleted" } });
        expect([404, 405], `${method} ${path}`).toContain(res.status);
      }
    }
    expect((await events(admin)).data).toEqual([event]);
  });

  it("is in the OpenAPI document, with its query and no write operations", async () => {
    const doc = await (await call("GET", "/openapi.json")).json<{
      paths: Record<string, Record<string, { parameters?: { name: string }[] }>>;
    }>();
    const path = doc.paths["/v1/audit-events"];
    expect(Object.keys(path ?? {})).toEqual(["get"]);
    expect(path!.get!.parameters!.map((p) => p.name).sort()).toEqual(["cursor", "keyId", "limit"]);
    expect(Object.keys(doc.paths).filter((p) => p.startsWith("/v1/audit-events"))).toEqual(["/v1/audit-events"]);
  });
});
