import { describe, expect, it } from "vitest";
import {
  call,
  createKey,
  createSource,
  expectNotFound,
  freezeClock,
  freshWs,
  type KeyRecord,
  problem,
  session,
  walkPages,
} from "../support/helpers";

const ALL = ["sources:read", "sources:write", "sources:delete"];

interface Source {
  id: string;
  name: string;
  type: string;
  url: string | null;
  content: string | null;
  createdAt: string;
  updatedAt: string;
}

/** Two fresh workspaces, each with an admin session and a full-scope key. */
async function twoWorkspaces() {
  const make = async (side: string) => {
    const ws = freshWs(`ws_iso_${side}`);
    const admin = await session(ws, "admin", `usr_${side}`);
    const created = await createKey(admin, { name: `${side} key`, scopes: ALL });
    return { ws, admin, key: created.key, keyId: created.id };
  };
  return { a: await make("a"), b: await make("b") };
}

const newSource = (key: string, name: string) => createSource<Source>(key, { type: "text", name, content: `content of ${name}` });

/** Every source the key's list shows, 2 per page; at most `atMost` expected. */
const listAllSources = async (key: string, atMost: number) => (await walkPages<Source>(key, "/v1/sources", { limit: 2, atMost })).flat();

/** Every key of one status the admin's list shows, 2 per page; at most `atMost` expected. */
const listAllKeys = async (admin: string, status: "active" | "revoked", atMost: number) =>
  (await walkPages<KeyRecord>(admin, `/v1/api-keys?status=${status}`, { limit: 2, atMost })).flat();

describe("sources never cross workspaces", () => {
  it("a key of A gets 404 (never 403) for GET, PATCH and DELETE of B's source, and B's source is untouched", async () => {
    const { a, b } = await twoWorkspaces();
    const theirs = await newSource(b.key, "B's secret notes");

    await expectNotFound(await call("GET", `/v1/sources/${theirs.id}`, { token: a.key }));
    await expectNotFound(await call("PATCH", `/v1/sources/${theirs.id}`, { token: a.key, body: { name: "hijacked" } }));
    await expectNotFound(
      await call("PATCH", `/v1/sources/${theirs.id}`, { token: a.key, body: { type: "url", url: "https://evil.example.com" } }),
    );
    await expectNotFound(await call("DELETE", `/v1/sources/${theirs.id}`, { token: a.key }));

    const still = await call("GET", `/v1/sources/${theirs.id}`, { token: b.key });
    expect(still.status).toBe(200);
    expect(await still.json()).toEqual(theirs);
  });

  it("answers A's request for B's source exactly as for an id that does not exist", async () => {
    const { a, b } = await twoWorkspaces();
    const theirs = await newSource(b.key, "B only");
    // Per-request fields (detail wording, request ids) aside, the answers are identical.
    const strip = (p: Record<string, unknown>) => ({ ...p, detail: undefined, requestId: undefined });
    for (const method of ["GET", "DELETE"]) {
      const foreign = await call(method, `/v1/sources/${theirs.id}`, { token: a.key });
      const missing = await call(method, `/v1/sources/src_doesNotExist0000000000`, { token: a.key });
      expect(foreign.status).toBe(missing.status);
      expect(strip(await problem(foreign))).toEqual(strip(await problem(missing)));
    }
  });

  it("a read-only key of A still gets 404 for B's source", async () => {
    const { a, b } = await twoWorkspaces();
    const theirs = await newSource(b.key, "B only");
    const readOnly = (await createKey(a.admin, { name: "ro", scopes: ["sources:read"] })).key;
    await expectNotFound(await call("GET", `/v1/sources/${theirs.id}`, { token: readOnly }));
  });

  it("lists only the calling workspace's sources, on every page", async () => {
    const { a, b } = await twoWorkspaces();
    const ours: string[] = [];
    const theirs: string[] = [];
    // Interleaved creation, so the two workspaces' sources share time ranges.
    for (let i = 0; i < 5; i++) {
      ours.push((await newSource(a.key, `a${i}`)).id);
      theirs.push((await newSource(b.key, `b${i}`)).id);
    }
    const seenByA = (await listAllSources(a.key, ours.length)).map((s) => s.id);
    const seenByB = (await listAllSources(b.key, theirs.length)).map((s) => s.id);
    expect(new Set(seenByA)).toEqual(new Set(ours));
    expect(seenByA).toHaveLength(ours.length);
    expect(new Set(seenByB)).toEqual(new Set(theirs));
    for (const id of theirs) expect(seenByA).not.toContain(id);
  });

  it("a cursor taken from B's list shows A nothing of B's", async () => {
    const clock = freezeClock();
    const { a, b } = await twoWorkspaces();
    for (let i = 0; i < 3; i++) await newSource(b.key, `b${i}`);
    const mine = await newSource(a.key, "a0");
    clock.advance(1_000); // B's later sources are strictly newer than A's
    for (let i = 3; i < 6; i++) await newSource(b.key, `b${i}`);
    const page = (await (await call("GET", "/v1/sources?limit=1", { token: b.key })).json()) as { nextCursor: string };
    expect(page.nextCursor).toBeTruthy();
    const res = await call("GET", `/v1/sources?cursor=${encodeURIComponent(page.nextCursor)}`, { token: a.key });
    expect(res.status).toBe(200);
    const data = ((await res.json()) as { data: Source[] }).data;
    expect(data.map((s) => s.id)).toEqual([mine.id]);
  });

  it("a source created with A's key belongs to A only", async () => {
    const { a, b } = await twoWorkspaces();
    const mine = await newSource(a.key, "A's");
    expect((await call("GET", `/v1/sources/${mine.id}`, { token: a.key })).status).toBe(200);
    await expectNotFound(await call("GET", `/v1/sources/${mine.id}`, { token: b.key }));
    expect(await listAllSources(b.key, 0)).toEqual([]);
  });

  it("the calling key reports its own workspace", async () => {
    const { a, b } = await twoWorkspaces();
    for (const side of [a, b]) {
      const res = await call("GET", "/v1/key", { token: side.key });
      expect(await res.json()).toMatchObject({ id: side.keyId, workspaceId: side.ws });
    }
  });
});

describe("keys never cross workspaces", () => {
  it("an admin of A gets 404 (never 403) for GET and revoke of B's key", async () => {
    const { a, b } = await twoWorkspaces();
    await expectNotFound(await call("GET", `/v1/api-keys/${b.keyId}`, { token: a.admin }));
    await expectNotFound(await call("POST", `/v1/api-keys/${b.keyId}/revoke`, { token: a.admin }));
    // And the same admin still sees its own.
    expect((await call("GET", `/v1/api-keys/${a.keyId}`, { token: a.admin })).status).toBe(200);
  });

  it("revoking B's key id through A's admin leaves B's key working and unrevoked", async () => {
    const { a, b } = await twoWorkspaces();
    const theirs = await newSource(b.key, "B's");
    await expectNotFound(await call("POST", `/v1/api-keys/${b.keyId}/revoke`, { token: a.admin }));

    const who = await call("GET", "/v1/key", { token: b.key });
    expect(who.status).toBe(200);
    expect((await call("GET", `/v1/sources/${theirs.id}`, { token: b.key })).status).toBe(200);
    expect((await call("GET", "/v1/sources", { token: b.key })).status).toBe(200);

    const record = await call("GET", `/v1/api-keys/${b.keyId}`, { token: b.admin });
    expect(record.status).toBe(200);
    expect(await record.json()).toMatchObject({ id: b.keyId, revokedAt: null, revokedBy: null });
    expect((await listAllKeys(b.admin, "revoked", 0)).map((k) => k.id)).not.toContain(b.keyId);
    expect((await listAllKeys(b.admin, "active", 1)).map((k) => k.id)).toContain(b.keyId);
  });

  it("the same user id in two workspaces still sees only the session's workspace", async () => {
    const { b } = await twoWorkspaces();
    const sameUserInA = await session(freshWs("ws_iso_other"), "admin", "usr_b");
    await expectNotFound(await call("GET", `/v1/api-keys/${b.keyId}`, { token: sameUserInA }));
    expect(await listAllKeys(sameUserInA, "active", 0)).toEqual([]);
  });

  it("B's keys, active or revoked, never appear in A's lists", async () => {
    const { a, b } = await twoWorkspaces();
    const ours = [a.keyId];
    const theirs = [b.keyId];
    for (let i = 0; i < 3; i++) {
      ours.push((await createKey(a.admin, { name: `a${i}`, scopes: ["sources:read"] })).id);
      theirs.push((await createKey(b.admin, { name: `b${i}`, scopes: ["sources:read"] })).id);
    }
    // One revoked key on each side.
    for (const [admin, id] of [
      [a.admin, ours[1]!],
      [b.admin, theirs[1]!],
    ] as const) {
      expect((await call("POST", `/v1/api-keys/${id}/revoke`, { token: admin })).status).toBe(200);
    }

    const aActive = (await listAllKeys(a.admin, "active", ours.length)).map((k) => k.id);
    const aRevoked = (await listAllKeys(a.admin, "revoked", ours.length)).map((k) => k.id);
    expect(new Set(aActive)).toEqual(new Set(ours.filter((id) => id !== ours[1])));
    expect(aRevoked).toEqual([ours[1]]);
    for (const id of theirs) {
      expect(aActive).not.toContain(id);
      expect(aRevoked).not.toContain(id);
    }

    const bActive = (await listAllKeys(b.admin, "active", theirs.length)).map((k) => k.id);
    const bRevoked = (await listAllKeys(b.admin, "revoked", theirs.length)).map((k) => k.id);
    expect(new Set(bActive)).toEqual(new Set(theirs.filter((id) => id !== theirs[1])));
    expect(bRevoked).toEqual([theirs[1]]);
  });

  it("an admin of A cannot see B's revoked key either", async () => {
    const { a, b } = await twoWorkspaces();
    expect((await call("POST", `/v1/api-keys/${b.keyId}/revoke`, { token: b.admin })).status).toBe(200);
    await expectNotFound(await call("GET", `/v1/api-keys/${b.keyId}`, { token: a.admin }));
    await expectNotFound(await call("POST", `/v1/api-keys/${b.keyId}/revoke`, { token: a.admin }));
    // B's record keeps B's admin as the revoker.
    const record = (await (await call("GET", `/v1/api-keys/${b.keyId}`, { token: b.admin })).json()) as KeyRecord;
    expect(record.revokedBy).toBe("usr_b");
  });
});
