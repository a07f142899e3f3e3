import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { database } from "../../src/db/client";
import { apiKeys, keyChanges, keySignals } from "../../src/db/schema";
import { produceEvents } from "../../src/webhooks/producer";
import { call, createKey, freshWs, type KeyRecord, session } from "../support/helpers";
import { seedKeys } from "../support/seed";
import { addEndpoint, deliveriesOf, endpointRow, expectFreeOf, fakeQueue, insertChange, insertSignal } from "./support";

/**
 * Events come from the change log (key_changes) and the signal outbox
 * (key_signals), each row once, to every subscribed enabled endpoint of the
 * key's workspace and no other.
 */

const produce = (queue = fakeQueue()) => produceEvents({ ...env, WEBHOOK_DELIVERIES: queue.binding }, Date.now());
interface EventBody {
  type: string;
  timestamp: string;
  data: { workspaceId: string; key: KeyRecord } & Record<string, unknown>;
}

/** The bodies of an endpoint's deliveries, in event time order. */
const bodies = async (endpointId: string) =>
  (await deliveriesOf(endpointId)).map((d) => JSON.parse(d.payload) as EventBody).sort((a, b) => a.timestamp.localeCompare(b.timestamp));
const keyRow = async (id: string) => (await database(env.DB).select().from(apiKeys).all()).find((r) => r.id === id)!;

async function workspaceWithKey() {
  const ws = freshWs();
  const admin = await session(ws);
  const [seeded] = await seedKeys(ws, 1, { expiresAt: Date.parse("2030-01-01T00:00:00Z") });
  return { ws, admin, key: { id: seeded!.id, workspaceId: ws, secret: seeded!.key } };
}

describe("events of the change log", () => {
  it("each change makes one event for each subscribed, enabled endpoint of its workspace: created, updated, rolled, revoked", async () => {
    const { ws, admin, key } = await workspaceWithKey();
    const all = await addEndpoint(admin);
    const revokesOnly = await addEndpoint(admin, { events: ["api_key.revoked"] });
    const disabled = await addEndpoint(admin);
    await call("PATCH", `/v1/webhooks/${disabled.id}`, { token: admin, body: { enabled: false } });
    const elsewhere = await addEndpoint(await session(freshWs()));

    const at = Date.parse("2026-11-20T10:00:00Z");
    await insertChange(key, "created", null, at);
    await insertChange(key, "updated", { fields: ["name", "ipAllowlist"] }, at + 1);
    await insertChange(key, "rolled", { newKeyId: "key_new", overlapSeconds: 3600 }, at + 2);
    await insertChange(key, "revoked", { reason: "leaked", url: "https://github.com/o/r/blob/x/.env" }, at + 3);
    const queue = fakeQueue();
    // Twice, and two at once: each change still makes one delivery per endpoint.
    await Promise.all([produce(queue), produce(queue)]);
    await produce(queue);

    const record = JSON.parse(JSON.stringify((await import("../../src/keys/records")).toKeyRecord(await keyRow(key.id)))) as KeyRecord;
    expect(await bodies(all.id)).toEqual([
      { type: "api_key.created", timestamp: "2026-11-20T10:00:00.000Z", data: { workspaceId: ws, key: record } },
      {
        type: "api_key.updated",
        timestamp: "2026-11-20T10:00:00.001Z",
        data: { workspaceId: ws, key: record, fields: ["name", "ipAllowlist"] },
      },
      {
        type: "api_key.rolled",
        timestamp: "2026-11-20T10:00:00.002Z",
        data: { workspaceId: ws, key: record, newKeyId: "key_new", overlapSeconds: 3600 },
      },
      {
        type: "api_key.revoked",
        timestamp: "2026-11-20T10:00:00.003Z",
        data: { workspaceId: ws, key: record, reason: "leaked", url: "https://github.com/o/r/blob/x/.env" },
      },
    ]);
    expect((await bodies(revokesOnly.id)).map((b) => b.type)).toEqual(["api_key.revoked"]);
    expect(await deliveriesOf(disabled.id)).toEqual([]);
    expect(await deliveriesOf(elsewhere.id)).toEqual([]);

    const deliveries = [...(await deliveriesOf(all.id)), ...(await deliveriesOf(revokesOnly.id))];
    for (const d of deliveries) {
      expect(d).toMatchObject({ status: "pending", attempts: 0, workspaceId: ws, nextAttemptAt: expect.any(Number) });
      expect(d.id).toMatch(/^msg_[0-9A-Za-z]{24}$/);
      // Every delivery was woken (twice at most: the runs overlapped).
      expect(queue.sent.filter((m) => "deliveryId" in m && m.deliveryId === d.id).length).toBeGreaterThanOrEqual(1);
    }
    expect(new Set(deliveries.map((d) => d.id)).size).toBe(5);
    // Every row of the key is marked as done.
    const rows = (await database(env.DB).select().from(keyChanges).all()).filter((r) => r.keyId === key.id);
    expect(rows.map((r) => r.eventsAt !== null)).toEqual([true, true, true, true]);
  });

  it("a run that dies after writing the deliveries (the queue refused the wake-ups) leaves the change pending; the next run finishes it, writing nothing twice", async () => {
    const { admin, key } = await workspaceWithKey();
    const endpoint = await addEndpoint(admin);
    await insertChange(key, "revoked", { reason: "admin" });
    const broken = fakeQueue();
    broken.binding.sendBatch = async () => {
      throw new Error("Queue send failed");
    };
    await expect(produce(broken)).rejects.toThrow("Queue send failed");
    const written = await deliveriesOf(endpoint.id);
    expect(written).toHaveLength(1);
    expect((await database(env.DB).select().from(keyChanges).all()).find((r) => r.keyId === key.id)!.eventsAt).toBeNull();

    const queue = fakeQueue();
    await produce(queue);
    expect(await deliveriesOf(endpoint.id)).toEqual(written);
    expect(queue.sent).toContainEqual({ deliveryId: written[0]!.id });
    expect((await database(env.DB).select().from(keyChanges).all()).find((r) => r.keyId === key.id)!.eventsAt).not.toBeNull();
  });

  it("a workspace without endpoints: its changes are marked done and nothing is written or sent for them", async () => {
    const { key } = await workspaceWithKey();
    const seq = await insertChange(key, "created");
    const queue = fakeQueue();
    await produce(queue);
    const row = (await database(env.DB).select().from(keyChanges).all()).find((r) => r.seq === seq)!;
    expect(row.eventsAt).not.toBeNull();
    const all = await database(env.DB)
      .select()
      .from((await import("../../src/db/schema")).webhookDeliveries)
      .all();
    expect(all.filter((d) => d.workspaceId === key.workspaceId)).toEqual([]);
  });
});

describe("events of the signal outbox", () => {
  it("each signal makes one event: used_after_revoke, expiring, expired, idle; a signal written twice (same dedupe) is one event", async () => {
    const { ws, admin, key } = await workspaceWithKey();
    const endpoint = await addEndpoint(admin);
    const other = await addEndpoint(await session(freshWs()));
    const at = Date.parse("2026-11-21T08:00:00Z");
    const seenAt = Date.parse("2026-11-21T07:59:58Z");
    await insertSignal(
      key,
      "used_after_revoke",
      `used_after_revoke:${key.id}:2026-11-21T07`,
      { ip: "203.0.113.9", country: "NL", at: seenAt },
      at,
    );
    await insertSignal(
      key,
      "used_after_revoke",
      `used_after_revoke:${key.id}:2026-11-21T07`,
      { ip: "198.51.100.1", country: "FR", at },
      at,
    );
    await insertSignal(key, "expiring", `expiring:${key.id}:1893456000000:7`, { daysLeft: 7 }, at + 1);
    await insertSignal(key, "expired", `expired:${key.id}:1893456000000`, {}, at + 2);
    await insertSignal(key, "idle", `idle:${key.id}:${at}`, { revokeAt: "2026-11-28T08:00:00.000Z", idleDays: 90 }, at + 3);
    await produce();
    await produce();

    const record = JSON.parse(JSON.stringify((await import("../../src/keys/records")).toKeyRecord(await keyRow(key.id))));
    expect(await bodies(endpoint.id)).toEqual([
      {
        type: "api_key.used_after_revoke",
        timestamp: "2026-11-21T08:00:00.000Z",
        data: { workspaceId: ws, key: record, ip: "203.0.113.9", country: "NL", at: "2026-11-21T07:59:58.000Z" },
      },
      { type: "api_key.expiring", timestamp: "2026-11-21T08:00:00.001Z", data: { workspaceId: ws, key: record, daysLeft: 7 } },
      { type: "api_key.expired", timestamp: "2026-11-21T08:00:00.002Z", data: { workspaceId: ws, key: record } },
      {
        type: "api_key.idle",
        timestamp: "2026-11-21T08:00:00.003Z",
        data: { workspaceId: ws, key: record, revokeAt: "2026-11-28T08:00:00.000Z", idleDays: 90 },
      },
    ]);
    expect(await deliveriesOf(other.id)).toEqual([]);
    const signals = (await database(env.DB).select().from(keySignals).all()).filter((s) => s.keyId === key.id);
    expect(signals).toHaveLength(4);
    expect(signals.every((s) => s.eventsAt !== null)).toBe(true);
  });
});

describe("what an event never carries", () => {
  it("no key secret, no key hash, no webhook secret (nor its sealed form), in any event of any type", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    const created = await createKey(admin);
    const endpoint = await addEndpoint(admin);
    const sealed = (await endpointRow(endpoint.id))!.secret;
    const row = await keyRow(created.id);
    const key = { id: created.id, workspaceId: ws };
    await insertChange(key, "created");
    await insertChange(key, "updated", { fields: ["name"] });
    await insertChange(key, "rolled", { newKeyId: "key_x", overlapSeconds: 0 });
    await insertChange(key, "revoked", { reason: "self" });
    await insertSignal(key, "used_after_revoke", `used_after_revoke:${key.id}:h`, { ip: "203.0.113.1", country: null, at: Date.now() });
    await insertSignal(key, "expiring", `expiring:${key.id}:1:1`, { daysLeft: 1 });
    await insertSignal(key, "expired", `expired:${key.id}:1`, {});
    await insertSignal(key, "idle", `idle:${key.id}:1`, { revokeAt: null });
    await produce();
    const deliveries = await deliveriesOf(endpoint.id);
    expect(new Set(deliveries.map((d) => d.event)).size).toBe(8);
    for (const d of deliveries) {
      expectFreeOf(JSON.stringify(d), [created.key, row.keyHash, endpoint.secret, sealed]);
      // The key's public prefix (sk_live_…) is in its record; nothing longer of the key, and no signing secret at all.
      expect(d.payload).not.toContain("whsec_");
      expect(d.payload.match(/sk_live_[0-9A-Za-z]*/g)).toEqual([(JSON.parse(d.payload) as EventBody).data.key.prefix]);
    }
  });
});
