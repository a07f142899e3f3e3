import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { afterEach, describe, expect, it, vi } from "vitest";
import { database } from "../../src/db/client";
import { apiKeys, keySignals } from "../../src/db/schema";
import worker from "../../src/index";
import { signalExpiries } from "../../src/webhooks/expiry";
import { freezeClock, freshWs, session } from "../support/helpers";
import { seedKeys } from "../support/seed";
import { addEndpoint, deliveriesOf, receiver } from "./support";

/** api_key.expiring (14, 7 and 1 days before expiresAt) and api_key.expired, from the cron, each once; on a frozen clock. */

const DAY = 86_400_000;
const T0 = Date.parse("2027-03-01T12:00:00Z");

afterEach(() => {
  vi.unstubAllGlobals();
});

async function cron() {
  const ctx = createExecutionContext();
  await worker.scheduled!(createScheduledController({ cron: "* * * * *", scheduledTime: Date.now() }), env, ctx);
  await waitOnExecutionContext(ctx);
}

const signalsOf = async (keyId: string) =>
  (await database(env.DB).select().from(keySignals).where(eq(keySignals.keyId, keyId)).all()).sort((a, b) => a.at - b.at);
const summary = async (keyId: string) => (await signalsOf(keyId)).map((s) => [s.kind, s.data]);

describe("expiry events", () => {
  it("a key is warned once each at 14, 7 and 1 days before it expires, then told once it expired; every event is sent once", async () => {
    const clock = freezeClock(T0);
    const ws = freshWs();
    const endpoint = await addEndpoint(await session(ws), { events: ["api_key.expiring", "api_key.expired"] });
    const [key] = await seedKeys(ws, 1, { expiresAt: T0 + 20 * DAY });
    const net = receiver(200);
    vi.stubGlobal("fetch", net.fetch);
    const steps: [at: number, expected: number][] = [
      [T0, 0],
      [T0 + 6 * DAY - 60_000, 0], // 14 days and a minute before
      [T0 + 6 * DAY, 1], // 14 days before: daysLeft 14
      [T0 + 6 * DAY + 60_000, 1],
      [T0 + 13 * DAY - 60_000, 1],
      [T0 + 13 * DAY, 2], // 7 days before
      [T0 + 19 * DAY, 3], // 1 day before
      [T0 + 19 * DAY + 3_600_000, 3],
      [T0 + 20 * DAY - 1, 3],
      [T0 + 20 * DAY, 4], // expired
      [T0 + 20 * DAY + 60_000, 4],
      [T0 + 26 * DAY, 4],
    ];
    for (const [at, expected] of steps) {
      clock.advance(at - Date.now());
      await cron();
      await cron(); // twice in the same minute: nothing more
      expect((await signalsOf(key!.id)).length, new Date(at).toISOString()).toBe(expected);
    }
    expect(await summary(key!.id)).toEqual([
      ["expiring", { daysLeft: 14 }],
      ["expiring", { daysLeft: 7 }],
      ["expiring", { daysLeft: 1 }],
      ["expired", {}],
    ]);
    await vi.waitFor(async () => expect((await deliveriesOf(endpoint.id)).map((d) => d.status)).toEqual(Array(4).fill("delivered")), {
      timeout: 10_000,
      interval: 20,
    });
    const bodies = (await deliveriesOf(endpoint.id))
      .map((d) => JSON.parse(d.payload))
      .sort((a, b) => a.timestamp.localeCompare(b.timestamp));
    expect(bodies.map((b) => [b.type, b.data.daysLeft, b.data.key.id])).toEqual([
      ["api_key.expiring", 14, key!.id],
      ["api_key.expiring", 7, key!.id],
      ["api_key.expiring", 1, key!.id],
      ["api_key.expired", undefined, key!.id],
    ]);
    // The expired event is dated when the key expired.
    expect(bodies[3].timestamp).toBe(new Date(T0 + 20 * DAY).toISOString());
    expect(net.received.filter((r) => r.url === endpoint.url)).toHaveLength(4);
  });

  it("a key created inside a window gets only the nearest warning, with the days it really has left; never a warning that was not true", async () => {
    freezeClock(T0);
    const ws = freshWs();
    const [three] = await seedKeys(ws, 1, { expiresAt: T0 + 3 * DAY + 5 * 3_600_000 });
    const [ten] = await seedKeys(ws, 1, { expiresAt: T0 + 10 * DAY });
    const [hour] = await seedKeys(ws, 1, { expiresAt: T0 + 3_600_000 });
    await signalExpiries(env, T0);
    await signalExpiries(env, T0 + 60_000);
    expect(await summary(three!.id)).toEqual([["expiring", { daysLeft: 4 }]]);
    expect(await summary(ten!.id)).toEqual([["expiring", { daysLeft: 10 }]]);
    expect(await summary(hour!.id)).toEqual([["expiring", { daysLeft: 1 }]]);
    expect((await signalsOf(three!.id))[0]!.dedupe).toBe(`expiring:${three!.id}:${T0 + 3 * DAY + 5 * 3_600_000}:7`);
  });

  it("revoked keys, keys that never expire, and keys that expired over a week ago get nothing", async () => {
    freezeClock(T0);
    const ws = freshWs();
    const [revoked] = await seedKeys(ws, 1, { expiresAt: T0 + DAY / 2, revokedAt: T0 - 1, revokedBy: "usr_x", revocationReason: "admin" });
    const [never] = await seedKeys(ws, 1);
    const [old] = await seedKeys(ws, 1, { expiresAt: T0 - 8 * DAY });
    const [recent] = await seedKeys(ws, 1, { expiresAt: T0 - 6 * DAY });
    await signalExpiries(env, T0);
    expect(await summary(revoked!.id)).toEqual([]);
    expect(await summary(never!.id)).toEqual([]);
    expect(await summary(old!.id)).toEqual([]);
    expect(await summary(recent!.id)).toEqual([["expired", {}]]);
  });

  it("an expiry moved earlier (a roll ends the old key at its overlap) is warned again for the new date", async () => {
    freezeClock(T0);
    const ws = freshWs();
    const [key] = await seedKeys(ws, 1, { expiresAt: T0 + 5 * DAY });
    await signalExpiries(env, T0);
    expect(await summary(key!.id)).toEqual([["expiring", { daysLeft: 5 }]]);
    // What a roll with a one-hour overlap does to the old key.
    await database(env.DB)
      .update(apiKeys)
      .set({ expiresAt: T0 + 3_600_000 })
      .where(eq(apiKeys.id, key!.id));
    await signalExpiries(env, T0 + 1);
    await signalExpiries(env, T0 + 2 * 3_600_000);
    expect(await summary(key!.id)).toEqual([
      ["expiring", { daysLeft: 5 }],
      ["expiring", { daysLeft: 1 }],
      ["expired", {}],
    ]);
  });

  it("works in chunks: every key of a window larger than one statement's chunk is signalled, once", async () => {
    freezeClock(T0);
    const ws = freshWs();
    const keys = await seedKeys(ws, 620, { expiresAt: T0 + DAY / 2 });
    const first = await signalExpiries(env, T0);
    expect(first.expiring).toBeGreaterThanOrEqual(620);
    expect((await signalExpiries(env, T0)).expiring).toBe(0);
    const rows = (await database(env.DB).select().from(keySignals).all()).filter((s) => s.workspaceId === ws);
    expect(rows).toHaveLength(keys.length);
    expect(new Set(rows.map((r) => r.keyId)).size).toBe(keys.length);
  });
});
