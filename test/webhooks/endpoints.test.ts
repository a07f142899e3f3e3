import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { parseOptions } from "../../src/options";
import { openSecret, parseSecretKeys, sealSecret } from "../../src/webhooks/secret-box";
import { reseal } from "../../src/webhooks/sweep";
import { fetchWith } from "../support/bindings";
import {
  type AuditEvent,
  call,
  captureConsole,
  createKey,
  expectInvalid,
  expectNotFound,
  freshWs,
  problem,
  session,
} from "../support/helpers";
import { addEndpoint, deliveriesOf, type Endpoint, endpointRow, insertChange } from "./support";

/** The webhook endpoint routes: admin only, per workspace, the secret once, every change audited. */

const KEYS = env.WEBHOOK_SECRET_KEYS!;
const base64Bytes = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

async function auditOf(admin: string) {
  const res = await call("GET", "/v1/audit-events", { token: admin });
  expect(res.status).toBe(200);
  return (await res.json<{ data: AuditEvent[] }>()).data;
}

describe("creating an endpoint", () => {
  it("answers it with its signing secret once (whsec_ + base64 of 32 random bytes, no-store); list and get never show the secret", async () => {
    const admin = await session(freshWs());
    const res = await call("POST", "/v1/webhooks", {
      token: admin,
      body: { url: "https://hooks.example.com/a", events: ["api_key.revoked"], description: "on-call" },
    });
    expect(res.status).toBe(201);
    expect(res.headers.get("Cache-Control")).toBe("no-store");
    const created = await res.json<Endpoint & { secret: string }>();
    expect(created).toEqual({
      id: expect.stringMatching(/^wh_[0-9A-Za-z]{24}$/),
      url: "https://hooks.example.com/a",
      events: ["api_key.revoked"],
      description: "on-call",
      createdAt: expect.any(String),
      disabledAt: null,
      disabledReason: null,
      secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]+=*$/),
    });
    expect(base64Bytes(created.secret.slice("whsec_".length))).toHaveLength(32);
    const other = await addEndpoint(admin);
    expect(other.secret).not.toBe(created.secret);

    for (const path of ["/v1/webhooks", `/v1/webhooks/${created.id}`]) {
      const text = await (await call("GET", path, { token: admin })).text();
      expect(text).toContain(created.id);
      expect(text).not.toContain(created.secret.slice(6));
      expect(text).not.toContain('"secret"');
    }
    const { secret: _, ...endpoint } = created;
    expect(await (await call("GET", `/v1/webhooks/${created.id}`, { token: admin })).json()).toEqual(endpoint);
  });

  it("stores the secret sealed (AES-GCM under WEBHOOK_SECRET_KEYS, bound to its endpoint): D1 alone does not hold it", async () => {
    const admin = await session(freshWs());
    const created = await addEndpoint(admin);
    const row = (await endpointRow(created.id))!;
    expect(JSON.stringify(row)).not.toContain(created.secret.slice(6));
    expect(row.secret).toMatch(/^v1:test:[A-Za-z0-9_-]+:[A-Za-z0-9_-]+$/);
    const keys = parseSecretKeys(KEYS);
    expect(await openSecret(keys, created.id, row.secret)).toBe(created.secret);
    // Not for another endpoint (copied sealed values do not open), not with another key.
    await expect(openSecret(keys, "wh_other", row.secret)).rejects.toThrow();
    const stranger = parseSecretKeys(`test:${btoa(String.fromCharCode(...new Uint8Array(32).fill(7)))}`);
    await expect(openSecret(stranger, created.id, row.secret)).rejects.toThrow();
  });

  it("defaults to every key event and no description; events are non-empty, known, without repeats; unknown fields are refused", async () => {
    const admin = await session(freshWs());
    const plain = await addEndpoint(admin);
    expect(plain.events).toEqual([
      "api_key.created",
      "api_key.updated",
      "api_key.rolled",
      "api_key.revoked",
      "api_key.expiring",
      "api_key.expired",
      "api_key.used_after_revoke",
      "api_key.idle",
    ]);
    expect(plain.description).toBeNull();
    const post = (body: unknown) => call("POST", "/v1/webhooks", { token: admin, body });
    const url = "https://hooks.example.com/x";
    await expectInvalid(await post({ url, events: [] }), "events");
    await expectInvalid(await post({ url, events: ["api_key.revoked", "api_key.revoked"] }), "events");
    await expectInvalid(await post({ url, events: ["webhook.test"] }), "events.0");
    await expectInvalid(await post({ url, event: ["api_key.revoked"] }), "event");
    await expectInvalid(await post({ url, description: "x".repeat(501) }), "description");
    await expectInvalid(await post({}), "url");
  });

  it("refuses URLs that are not https://, carry credentials, are too long, or name localhost or a private, loopback or link-local address", async () => {
    const admin = await session(freshWs());
    const refused = [
      "http://hooks.example.com/x",
      "ftp://hooks.example.com/x",
      "not a url",
      "https://user:pass@hooks.example.com/x",
      "https://token@hooks.example.com/x",
      `https://hooks.example.com/${"a".repeat(2000)}`,
      "https://localhost/x",
      "https://LOCALHOST./x",
      "https://api.localhost/x",
      "https://127.0.0.1/x",
      "https://127.8.9.10/x",
      "https://2130706433/x", // 127.0.0.1 as the URL parser reads it
      "https://0x7f.1/x",
      "https://10.1.2.3/x",
      "https://172.16.0.1/x",
      "https://172.31.255.255/x",
      "https://192.168.1.1/x",
      "https://169.254.169.254/latest/meta-data",
      "https://100.64.0.1/x",
      "https://0.0.0.0/x",
      "https://[::1]/x",
      "https://[::]/x",
      "https://[::ffff:127.0.0.1]/x",
      "https://[::ffff:10.0.0.1]/x",
      "https://[fe80::1]/x",
      "https://[fd12:3456::1]/x",
    ];
    for (const url of refused) {
      const res = await call("POST", "/v1/webhooks", { token: admin, body: { url } });
      expect(res.status, url).toBe(400);
      await expectInvalid(res, "url");
    }
    for (const url of [
      "https://hooks.example.com:8443/a?b=c",
      "https://203.0.113.7/x",
      "https://[2001:db8::1]/x",
      "https://172.32.0.1/x",
    ]) {
      const res = await call("POST", "/v1/webhooks", { token: admin, body: { url } });
      expect(res.status, url).toBe(201);
      await call("DELETE", `/v1/webhooks/${(await res.json<Endpoint>()).id}`, { token: admin });
    }
    const created = await addEndpoint(admin);
    await expectInvalid(await call("PATCH", `/v1/webhooks/${created.id}`, { token: admin, body: { url: "https://10.0.0.1/x" } }), "url");
  });

  it("with WEBHOOK_ALLOW_LOCAL_URLS=true (local config) accepts http:// and loopback targets, still no private or link-local ones", async () => {
    const admin = await session(freshWs());
    const local = { WEBHOOK_ALLOW_LOCAL_URLS: "true" };
    for (const url of [
      "http://localhost:8788/hook",
      "http://127.0.0.1:8788/hook",
      "http://[::1]:8788/hook",
      "https://hooks.example.com/x",
    ]) {
      const res = await fetchWith(local, "POST", "/v1/webhooks", { token: admin, body: { url } });
      expect(res.status, url).toBe(201);
      await call("DELETE", `/v1/webhooks/${(await res.json<Endpoint>()).id}`, { token: admin });
    }
    for (const url of [
      "http://10.0.0.1/x",
      "http://169.254.169.254/x",
      "http://192.168.0.2/x",
      "ftp://localhost/x",
      "http://u:p@localhost/x",
    ]) {
      expect((await fetchWith(local, "POST", "/v1/webhooks", { token: admin, body: { url } })).status, url).toBe(400);
    }
    // Without the var the same loopback URL is refused; any other value than "true" or "false" is a configuration error.
    expect((await call("POST", "/v1/webhooks", { token: admin, body: { url: "http://localhost:8788/hook" } })).status).toBe(400);
    expect(() => parseOptions({ ...env, WEBHOOK_ALLOW_LOCAL_URLS: "yes" })).toThrow(/WEBHOOK_ALLOW_LOCAL_URLS/);
  });

  it("allows at most 10 endpoints per workspace (409 conflict), also when created at once; other workspaces are not counted", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    const answers = await Promise.all(
      Array.from({ length: 13 }, (_, i) => call("POST", "/v1/webhooks", { token: admin, body: { url: `https://hooks.example.com/${i}` } })),
    );
    expect(answers.map((r) => r.status).sort()).toEqual([...Array(10).fill(201), 409, 409, 409]);
    const refusedOne = answers.find((r) => r.status === 409)!;
    expect(await problem(refusedOne)).toMatchObject({ code: "conflict" });
    const list = await (await call("GET", "/v1/webhooks", { token: admin })).json<{ data: Endpoint[]; nextCursor: null }>();
    expect(list.data).toHaveLength(10);
    expect(list.nextCursor).toBeNull();
    // Only the created ones were audited.
    expect((await auditOf(admin)).filter((e) => e.action === "webhook.created")).toHaveLength(10);
    expect(
      (await call("POST", "/v1/webhooks", { token: await session(freshWs()), body: { url: "https://hooks.example.com/o" } })).status,
    ).toBe(201);
    // Deleting one makes room again.
    await call("DELETE", `/v1/webhooks/${list.data[0]!.id}`, { token: admin });
    expect((await call("POST", "/v1/webhooks", { token: admin, body: { url: "https://hooks.example.com/again" } })).status).toBe(201);
  });
});

describe("changing and deleting an endpoint", () => {
  it("PATCH changes what is sent, records webhook.updated naming the fields changed, and a body that changes nothing records nothing", async () => {
    const admin = await session(freshWs(), "admin", "usr_ada");
    const created = await addEndpoint(admin, { events: ["api_key.revoked"] });
    const patch = (body: unknown) => call("PATCH", `/v1/webhooks/${created.id}`, { token: admin, body });

    const res = await patch({ url: "https://hooks.example.com/new", events: ["api_key.revoked", "api_key.expiring"], description: "x" });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      id: created.id,
      url: "https://hooks.example.com/new",
      events: ["api_key.revoked", "api_key.expiring"],
      description: "x",
      disabledAt: null,
    });
    expect((await patch({ url: "https://hooks.example.com/new", description: "x" })).status).toBe(200);
    expect((await patch({ description: "" })).status).toBe(200);
    expect((await (await call("GET", `/v1/webhooks/${created.id}`, { token: admin })).json<Endpoint>()).description).toBeNull();

    const updates = (await auditOf(admin)).filter((e) => e.action === "webhook.updated");
    expect(updates.map((e) => e.details)).toEqual([{ fields: ["description"] }, { fields: ["url", "events", "description"] }]);
    expect(updates[0]).toMatchObject({ webhookId: created.id, keyId: null, actorId: "usr_ada" });

    await expectInvalid(await patch({}), "");
    await expectInvalid(await patch({ enabled: "no" }), "enabled");
    await expectInvalid(await patch({ secret: "whsec_AAAA" }), "");
    // The secret never changes with PATCH.
    expect((await endpointRow(created.id))!.secret).toBe((await endpointRow(created.id))!.secret);
  });

  it("enabled: false disables it (admin) and fails its pending deliveries; enabled: true enables it again", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    const created = await addEndpoint(admin);
    const [key] = await (await import("../support/seed")).seedKeys(ws, 1);
    await insertChange({ id: key!.id, workspaceId: ws }, "revoked", { reason: "admin" });
    const { fakeQueue } = await import("./support");
    const { produceEvents } = await import("../../src/webhooks/producer");
    await produceEvents({ ...env, WEBHOOK_DELIVERIES: fakeQueue().binding }, Date.now());
    expect((await deliveriesOf(created.id)).map((d) => d.status)).toEqual(["pending"]);

    const off = await call("PATCH", `/v1/webhooks/${created.id}`, { token: admin, body: { enabled: false } });
    expect(await off.json()).toMatchObject({ disabledAt: expect.any(String), disabledReason: "admin" });
    expect((await deliveriesOf(created.id)).map((d) => [d.status, d.lastError])).toEqual([["failed", "endpoint_disabled"]]);
    const on = await call("PATCH", `/v1/webhooks/${created.id}`, { token: admin, body: { enabled: true } });
    expect(await on.json()).toMatchObject({ disabledAt: null, disabledReason: null });
    expect((await auditOf(admin)).filter((e) => e.action === "webhook.updated").map((e) => e.details)).toEqual([
      { fields: ["enabled"] },
      { fields: ["enabled"] },
    ]);
  });

  it("DELETE answers 204, drops its deliveries (pending ones are never sent) and records webhook.deleted; the endpoint is gone", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    const created = await addEndpoint(admin);
    const [key] = await (await import("../support/seed")).seedKeys(ws, 1);
    await insertChange({ id: key!.id, workspaceId: ws }, "created");
    const { fakeQueue } = await import("./support");
    const { produceEvents } = await import("../../src/webhooks/producer");
    await produceEvents({ ...env, WEBHOOK_DELIVERIES: fakeQueue().binding }, Date.now());
    expect(await deliveriesOf(created.id)).toHaveLength(1);

    const res = await call("DELETE", `/v1/webhooks/${created.id}`, { token: admin });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe("");
    expect(await deliveriesOf(created.id)).toEqual([]);
    await expectNotFound(await call("GET", `/v1/webhooks/${created.id}`, { token: admin }));
    await expectNotFound(await call("DELETE", `/v1/webhooks/${created.id}`, { token: admin }));
    const deleted = (await auditOf(admin)).filter((e) => e.action === "webhook.deleted");
    expect(deleted).toEqual([expect.objectContaining({ webhookId: created.id, keyId: null, details: { url: created.url } })]);
  });

  it("creation is audited as webhook.created with the URL and events; the keyId filter of the audit list leaves webhook events out", async () => {
    const admin = await session(freshWs(), "admin", "usr_grace");
    const key = await createKey(admin);
    const created = await addEndpoint(admin, { events: ["api_key.revoked"] });
    const [event] = (await auditOf(admin)).filter((e) => e.action === "webhook.created");
    expect(event).toMatchObject({
      action: "webhook.created",
      actorId: "usr_grace",
      keyId: null,
      webhookId: created.id,
      details: { url: created.url, events: ["api_key.revoked"] },
    });
    const ofKey = await (await call("GET", `/v1/audit-events?keyId=${created.id}`, { token: admin })).json<{ data: AuditEvent[] }>();
    expect(ofKey.data).toEqual([]);
    const ofRealKey = await (await call("GET", `/v1/audit-events?keyId=${key.id}`, { token: admin })).json<{ data: AuditEvent[] }>();
    expect(ofRealKey.data.map((e) => [e.action, e.webhookId])).toEqual([["api_key.created", null]]);
  });
});

describe("who may", () => {
  it("only admins: a member is refused 403 on every webhook route", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    const member = await session(ws, "member");
    const created = await addEndpoint(admin);
    const routes: [string, string, unknown?][] = [
      ["POST", "/v1/webhooks", { url: "https://hooks.example.com/m" }],
      ["GET", "/v1/webhooks"],
      ["GET", `/v1/webhooks/${created.id}`],
      ["PATCH", `/v1/webhooks/${created.id}`, { description: "m" }],
      ["DELETE", `/v1/webhooks/${created.id}`],
      ["POST", `/v1/webhooks/${created.id}/test`],
      ["GET", `/v1/webhooks/${created.id}/deliveries`],
      ["POST", `/v1/webhooks/${created.id}/deliveries/msg_x/retry`],
    ];
    for (const [method, path, body] of routes) {
      const res = await call(method, path, { token: member, body });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect((await problem(res)).code).toBe("forbidden");
    }
    expect(await endpointRow(created.id)).toMatchObject({ description: null });
  });

  it("another workspace's endpoint answers 404 on every route, exactly like a missing one, and is left as it was", async () => {
    const ours = await session(freshWs());
    const theirs = await session(freshWs());
    const created = await addEndpoint(theirs);
    const before = await endpointRow(created.id);
    const routes: [string, string, unknown?][] = [
      ["GET", `/v1/webhooks/${created.id}`],
      ["PATCH", `/v1/webhooks/${created.id}`, { description: "mine now" }],
      ["DELETE", `/v1/webhooks/${created.id}`],
      ["POST", `/v1/webhooks/${created.id}/test`],
      ["GET", `/v1/webhooks/${created.id}/deliveries`],
      ["POST", `/v1/webhooks/${created.id}/deliveries/msg_x/retry`],
    ];
    for (const [method, path, body] of routes) {
      const res = await call(method, path, { token: ours, body });
      const missing = await call(method, path.replace(created.id, "wh_doesnotexist000000000000"), { token: ours, body });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect({ ...(await problem(res)), requestId: null }).toEqual({ ...(await problem(missing)), requestId: null });
    }
    expect((await (await call("GET", "/v1/webhooks", { token: ours })).json<{ data: unknown[] }>()).data).toEqual([]);
    expect(await endpointRow(created.id)).toEqual(before);
    expect((await auditOf(ours)).filter((e) => e.action.startsWith("webhook."))).toEqual([]);
  });
});

describe("WEBHOOK_SECRET_KEYS", () => {
  it("unset or malformed: every webhook route answers 503 and the log names the variable, never a value; the rest of the service works", async () => {
    const admin = await session(freshWs());
    const created = await addEndpoint(admin);
    for (const bad of ["", "no-colon", "k1:short", `k1:${btoa("x".repeat(32))},k1:${btoa("y".repeat(32))}`, "bad id!:AAAA"]) {
      const capture = captureConsole();
      try {
        for (const [method, path] of [
          ["POST", "/v1/webhooks"],
          ["GET", "/v1/webhooks"],
          ["GET", `/v1/webhooks/${created.id}`],
          ["PATCH", `/v1/webhooks/${created.id}`],
          ["DELETE", `/v1/webhooks/${created.id}`],
          ["POST", `/v1/webhooks/${created.id}/test`],
          ["GET", `/v1/webhooks/${created.id}/deliveries`],
        ] as const) {
          const body =
            method === "POST" && path === "/v1/webhooks"
              ? { url: "https://hooks.example.com/x" }
              : method === "PATCH"
                ? { description: "d" }
                : undefined;
          const res = await fetchWith({ WEBHOOK_SECRET_KEYS: bad }, method, path, { token: admin, body });
          expect(res.status, `${bad} ${method} ${path}`).toBe(503);
          expect((await problem(res)).code).toBe("unavailable");
        }
        expect((await fetchWith({ WEBHOOK_SECRET_KEYS: bad }, "GET", "/v1/api-keys", { token: admin })).status).toBe(200);
        const named = capture.lines.filter((l) => l.includes("WEBHOOK_SECRET_KEYS"));
        expect(named.length, bad).toBeGreaterThan(0);
        if (bad.length > 8) for (const line of capture.lines) expect(line).not.toContain(bad.split(":")[1]!.slice(0, 12));
      } finally {
        capture.restore();
      }
    }
    expect(await endpointRow(created.id)).toMatchObject({ id: created.id });
  });

  it("rotates: a new key put first seals new secrets while the old one still opens; the cron reseals old secrets, then the old key can go", async () => {
    const admin = await session(freshWs());
    const old = await addEndpoint(admin);
    const newKey = `next:${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))}`;
    const both = `${newKey},${KEYS}`;
    const fresh = await addEndpoint(admin, {}, { WEBHOOK_SECRET_KEYS: both });
    expect((await endpointRow(fresh.id))!.secret).toMatch(/^v1:next:/);
    expect((await endpointRow(old.id))!.secret).toMatch(/^v1:test:/);

    const keys = parseSecretKeys(both);
    // The cron's reseal step: until every secret is under the first key.
    for (let left = Number.POSITIVE_INFINITY; left > 0; ) left = (await reseal(env, keys)).left;
    expect((await endpointRow(old.id))!.secret).toMatch(/^v1:next:/);
    const onlyNew = parseSecretKeys(newKey);
    expect(await openSecret(onlyNew, old.id, (await endpointRow(old.id))!.secret)).toBe(old.secret);
    expect(await openSecret(onlyNew, fresh.id, (await endpointRow(fresh.id))!.secret)).toBe(fresh.secret);
    // Sealing is not deterministic: the same secret sealed twice differs (a fresh IV each time).
    expect(await sealSecret(onlyNew, old.id, old.secret)).not.toBe(await sealSecret(onlyNew, old.id, old.secret));
  });
});
