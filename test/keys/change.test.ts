import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { counted, fetchWith } from "../support/bindings";
import { githubSigner, publicKeysDocument } from "../support/github-signing";
import { type AuditEvent, createKey, freshWs, session } from "../support/helpers";

/**
 * Every change to a key goes through one write path (src/keys/change.ts): the
 * row, its audit event and the re-read are ONE D1 batch, so there is never a
 * change without its event or an event without its change.
 */

async function batchesOf(run: (DB: D1Database) => Promise<Response>, status: number) {
  const d1 = counted(env.DB);
  const res = await run(d1.binding);
  expect(res.status, await res.clone().text()).toBe(status);
  return d1.calls.batch ?? 0;
}

describe("the write path: one D1 batch per change", () => {
  it("create, PATCH, roll, admin revoke, self-revoke", async () => {
    const admin = await session(freshWs());
    const body = { name: "one batch", scopes: ["sources:read"] };
    expect(await batchesOf((DB) => fetchWith({ DB }, "POST", "/v1/api-keys", { token: admin, body }), 201)).toBe(1);

    const k = await createKey(admin);
    expect(
      await batchesOf((DB) => fetchWith({ DB }, "PATCH", `/v1/api-keys/${k.id}`, { token: admin, body: { name: "renamed" } }), 200),
    ).toBe(1);
    // A PATCH that changes nothing writes nothing.
    expect(
      await batchesOf((DB) => fetchWith({ DB }, "PATCH", `/v1/api-keys/${k.id}`, { token: admin, body: { name: "renamed" } }), 200),
    ).toBe(0);

    const rolled = await (await fetchWith({}, "POST", `/v1/api-keys/${k.id}/roll`, { token: admin, body: { overlapSeconds: 60 } })).json<{
      id: string;
      key: string;
    }>();
    expect(await batchesOf((DB) => fetchWith({ DB }, "POST", `/v1/api-keys/${rolled.id}/roll`, { token: admin }), 201)).toBe(1);
    expect(await batchesOf((DB) => fetchWith({ DB }, "POST", `/v1/api-keys/${k.id}/revoke`, { token: admin }), 200)).toBe(1);

    const self = await createKey(admin);
    expect(await batchesOf((DB) => fetchWith({ DB }, "POST", "/v1/key/revoke", { token: self.key }), 200)).toBe(1);
  });

  it("a leak report: every revocation of the report in one batch (after one batch of lookups)", async () => {
    const github = await githubSigner();
    const admin = await session(freshWs());
    const keys = [await createKey(admin), await createKey(admin), await createKey(admin)];
    const raw = JSON.stringify(keys.map((k) => ({ token: k.key, type: "owlish_api_key", url: "https://github.com/o/r/blob/x/.env" })));
    const headers = { "Content-Type": "application/json", ...(await github.sign(raw)) };
    const overrides = { SECRET_SCANNING_PUBLIC_KEYS: publicKeysDocument(github) };
    expect(
      await batchesOf((DB) => fetchWith({ ...overrides, DB }, "POST", "/v1/secret-scanning/github", { body: raw, headers }), 200),
    ).toBe(2);
  });

  it("each actor is named as itself: the admin, the key, or the system", async () => {
    const ws = freshWs();
    const admin = await session(ws, "admin", "usr_ada");
    const byAdmin = await createKey(admin);
    const bySelf = await createKey(admin);
    const bySystem = await createKey(admin);
    await fetchWith({}, "POST", `/v1/api-keys/${byAdmin.id}/revoke`, { token: admin });
    await fetchWith({}, "POST", "/v1/key/revoke", { token: bySelf.key });
    // GitHub reports the third one leaked.
    const github = await githubSigner();
    const report = JSON.stringify([{ token: bySystem.key, type: "owlish_api_key", url: "https://github.com/o/r/blob/x/.env" }]);
    const leaked = await fetchWith({ SECRET_SCANNING_PUBLIC_KEYS: publicKeysDocument(github) }, "POST", "/v1/secret-scanning/github", {
      body: report,
      headers: { "Content-Type": "application/json", ...(await github.sign(report)) },
    });
    expect(leaked.status).toBe(200);
    const events = (await (await fetchWith({}, "GET", "/v1/audit-events", { token: admin })).json<{ data: AuditEvent[] }>()).data;
    const revokedBy = (id: string) => events.find((e) => e.action === "api_key.revoked" && e.keyId === id)?.actorId;
    expect(revokedBy(byAdmin.id)).toBe("usr_ada");
    expect(revokedBy(bySelf.id)).toBe(bySelf.id);
    expect(revokedBy(bySystem.id)).toBe("github_secret_scanning");
    expect(events.filter((e) => e.action === "api_key.created").map((e) => e.actorId)).toEqual(["usr_ada", "usr_ada", "usr_ada"]);
  });
});
