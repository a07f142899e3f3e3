import {
  createExecutionContext,
  createMessageBatch,
  createScheduledController,
  getQueueResult,
  runDurableObjectAlarm,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { database } from "../../src/db/client";
import { webhookDeliveries } from "../../src/db/schema";
import worker from "../../src/index";
import { recorderShard } from "../../src/usage/recorder-protocol";
import { LOST_AFTER_MS, RETENTION_MS } from "../../src/webhooks/sweep";
import { call, captureConsole, createKey, freshWs, session } from "../support/helpers";
import { BASE, freshIsolate } from "../support/isolate";
import { seedKeys } from "../support/seed";
import { addEndpoint, deliveriesOf, insertChange, listDeliveries, receiver, verified } from "./support";

/**
 * End to end in the Workers runtime: the real queue (WEBHOOK_DELIVERIES,
 * consumed by this worker's queue() in the test isolate, without the 1 s
 * batching wait: vitest.config.ts), the real cron handler, a receiver in
 * place of the network.
 */

afterEach(() => {
  vi.unstubAllGlobals();
});

/** Runs the worker's cron as Cloudflare would at `at`. */
async function cron(at = Date.now()) {
  const ctx = createExecutionContext();
  await worker.scheduled!(createScheduledController({ cron: "* * * * *", scheduledTime: at }), env, ctx);
  await waitOnExecutionContext(ctx);
}

/** A receiver standing in for the network for the whole worker (the consumer calls globalThis.fetch). */
function listening(...answers: Parameters<typeof receiver>) {
  const net = receiver(...answers);
  vi.stubGlobal("fetch", net.fetch);
  return net;
}

const eventually = (check: () => Promise<void> | void) => vi.waitFor(check, { timeout: 10_000, interval: 20 });

describe("from a key change to the receiver", () => {
  it("the cron produces the event, the queue wakes the consumer, the receiver gets it signed, and the delivery is recorded delivered", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    const endpoint = await addEndpoint(admin, { events: ["api_key.revoked"] });
    const [key] = await seedKeys(ws, 1);
    await insertChange({ id: key!.id, workspaceId: ws }, "revoked", { reason: "admin" });
    const net = listening(200);

    await cron();
    await eventually(async () => expect((await deliveriesOf(endpoint.id)).map((d) => d.status)).toEqual(["delivered"]));
    const mine = net.received.filter((r) => r.url === endpoint.url);
    expect(mine).toHaveLength(1);
    const body = verified(endpoint.secret, mine[0]!);
    expect(body).toMatchObject({ type: "api_key.revoked", data: { workspaceId: ws, key: { id: key!.id }, reason: "admin" } });
    expect(mine[0]!.headers["webhook-id"]).toBe((await deliveriesOf(endpoint.id))[0]!.id);
    // The next minute's run finds nothing new to send.
    await cron();
    expect(await deliveriesOf(endpoint.id)).toHaveLength(1);
  });

  it("through the API: creating, editing, rolling and revoking a key reach the receiver without waiting for the cron, each once", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    const endpoint = await addEndpoint(admin, { url: `https://api-path.example.com/${ws}` });
    const net = listening(200);
    const key = await createKey(admin);
    expect((await call("PATCH", `/v1/api-keys/${key.id}`, { token: admin, body: { name: "renamed" } })).status).toBe(200);
    const rolled = await call("POST", `/v1/api-keys/${key.id}/roll`, { token: admin, body: { overlapSeconds: 3600 } });
    expect(rolled.status).toBe(201);
    const successor = await rolled.json<{ id: string; key: string }>();
    expect((await call("POST", `/v1/api-keys/${successor.id}/revoke`, { token: admin })).status).toBe(200);
    const mine = () => net.received.filter((r) => r.url === endpoint.url).map((r) => verified(endpoint.secret, r));
    await eventually(() => expect(mine()).toHaveLength(5));
    const seen = mine().map((e) => [e.type, (e.data as { key: { id: string } }).key.id]);
    expect(seen.sort()).toEqual(
      [
        ["api_key.created", key.id],
        ["api_key.updated", key.id],
        ["api_key.rolled", key.id],
        ["api_key.created", successor.id],
        ["api_key.revoked", successor.id],
      ].sort(),
    );
    const revoked = mine().find((e) => e.type === "api_key.revoked")!;
    expect(revoked.data).toMatchObject({ reason: "admin", key: { id: successor.id, revocationReason: "admin" } });
    // Neither key's secret went anywhere.
    for (const r of net.received) {
      expect(r.body).not.toContain(key.key.slice(8));
      expect(r.body).not.toContain(successor.key.slice(8));
    }
    // The cron finds no change left to send; it does see that the roll made the old key expire within the hour.
    await cron();
    const after = (await deliveriesOf(endpoint.id)).map((d) => JSON.parse(d.payload));
    expect(after).toHaveLength(6);
    expect(after.filter((e) => e.type === "api_key.expiring").map((e) => [e.data.key.id, e.data.daysLeft])).toEqual([[key.id, 1]]);
  });

  it("a revoked key presented again: api_key.used_after_revoke with the caller's address, country and time, once per key per hour", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    const endpoint = await addEndpoint(admin, { url: `https://presented.example.com/${ws}`, events: ["api_key.used_after_revoke"] });
    const key = await createKey(admin);
    expect((await call("POST", `/v1/api-keys/${key.id}/revoke`, { token: admin })).status).toBe(200);
    const net = listening(200);
    // Presented three times from two isolates (two recorder shards), as a forgotten script would.
    const present = async (shard: number, ip: string) => {
      const request = new Request(`${BASE}/v1/key`, {
        headers: { Authorization: `Bearer ${key.key}`, "CF-Connecting-IP": ip },
        cf: { country: "NL" },
      } as RequestInit);
      const ctx = createExecutionContext();
      expect((await freshIsolate({ shard }).fetch(request, {}, ctx)).status).toBe(401);
      await waitOnExecutionContext(ctx);
    };
    const first = Date.now();
    await present(4, "203.0.113.9");
    await present(4, "203.0.113.10");
    await present(5, "198.51.100.7");
    for (const n of [4, 5]) while (await runDurableObjectAlarm(recorderShard(env, n)));
    await cron();
    await cron();
    const mine = () => net.received.filter((r) => r.url === endpoint.url).map((r) => verified(endpoint.secret, r));
    await eventually(() => expect(mine()).toHaveLength(1));
    const [event] = mine();
    expect(event).toMatchObject({ type: "api_key.used_after_revoke", data: { workspaceId: ws, key: { id: key.id }, country: "NL" } });
    const data = event!.data as { ip: string; at: string };
    expect(["203.0.113.9", "198.51.100.7"]).toContain(data.ip);
    expect(Date.parse(data.at)).toBeGreaterThanOrEqual(first - 1);
    expect(await deliveriesOf(endpoint.id)).toHaveLength(1);
  });

  it("POST /v1/webhooks/{id}/test: 202, and a signed webhook.test event reaches that endpoint only", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    const endpoint = await addEndpoint(admin, { events: ["api_key.expiring"] });
    const bystander = await addEndpoint(admin, { url: `https://other.example.com/${ws}` });
    const net = listening(200);
    const res = await call("POST", `/v1/webhooks/${endpoint.id}/test`, { token: admin });
    expect(res.status).toBe(202);
    const delivery = await res.json<{ id: string; event: string; status: string }>();
    expect(delivery).toMatchObject({ id: expect.stringMatching(/^msg_/), event: "webhook.test", status: "pending" });
    await eventually(async () => expect((await listDeliveries(admin, endpoint.id))[0]).toMatchObject({ status: "delivered", attempts: 1 }));
    expect(net.received.map((r) => r.url).filter((url) => url === endpoint.url || url === bystander.url)).toEqual([endpoint.url]);
    expect(verified(endpoint.secret, net.received.find((r) => r.url === endpoint.url)!)).toMatchObject({
      type: "webhook.test",
      data: { workspaceId: ws, webhookId: endpoint.id },
    });
    expect(await deliveriesOf(bystander.id)).toEqual([]);
  });

  it("manual retry: 202, the delivery is sent again now with the same webhook-id and body, and counts both attempts", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    const endpoint = await addEndpoint(admin, { url: `https://retry.example.com/${ws}` });
    const net = listening(200);
    const { id } = await (await call("POST", `/v1/webhooks/${endpoint.id}/test`, { token: admin })).json<{ id: string }>();
    await eventually(async () => expect((await listDeliveries(admin, endpoint.id))[0]).toMatchObject({ status: "delivered" }));

    const res = await call("POST", `/v1/webhooks/${endpoint.id}/deliveries/${id}/retry`, { token: admin });
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ id, status: "pending", attempts: 1 });
    await eventually(async () => expect((await listDeliveries(admin, endpoint.id))[0]).toMatchObject({ status: "delivered", attempts: 2 }));
    const mine = net.received.filter((r) => r.url === endpoint.url);
    expect(mine).toHaveLength(2);
    expect(mine.map((r) => r.headers["webhook-id"])).toEqual([id, id]);
    expect(mine[1]!.body).toBe(mine[0]!.body);
    for (const r of mine) verified(endpoint.secret, r);
    // Not another endpoint's delivery, and not on a disabled endpoint.
    const other = await addEndpoint(admin);
    expect((await call("POST", `/v1/webhooks/${other.id}/deliveries/${id}/retry`, { token: admin })).status).toBe(404);
    await call("PATCH", `/v1/webhooks/${endpoint.id}`, { token: admin, body: { enabled: false } });
    expect((await call("POST", `/v1/webhooks/${endpoint.id}/deliveries/${id}/retry`, { token: admin })).status).toBe(409);
    expect((await call("POST", `/v1/webhooks/${endpoint.id}/test`, { token: admin })).status).toBe(409);
  });

  it("another workspace's events never reach an endpoint, and its deliveries are not listed", async () => {
    const a = freshWs();
    const b = freshWs();
    const adminA = await session(a);
    const adminB = await session(b);
    const endpointA = await addEndpoint(adminA);
    const endpointB = await addEndpoint(adminB, { url: "https://b.example.com/hook" });
    const [keyA] = await seedKeys(a, 1);
    await insertChange({ id: keyA!.id, workspaceId: a }, "created");
    const net = listening(200);
    await cron();
    await eventually(async () => expect((await deliveriesOf(endpointA.id)).map((d) => d.status)).toEqual(["delivered"]));
    expect(await deliveriesOf(endpointB.id)).toEqual([]);
    expect(net.received.filter((r) => r.url.startsWith("https://b.example.com"))).toEqual([]);
    expect((await call("GET", `/v1/webhooks/${endpointA.id}/deliveries`, { token: adminB })).status).toBe(404);
  });
});

describe("the worker's queue and cron handlers", () => {
  it("queue() hands each queue's batch to its consumer by name; an unknown queue's messages are retried and logged", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    const endpoint = await addEndpoint(admin);
    const [key] = await seedKeys(ws, 1);
    await insertChange({ id: key!.id, workspaceId: ws }, "updated", { fields: ["name"] });
    const { produceEvents } = await import("../../src/webhooks/producer");
    const { fakeQueue } = await import("./support");
    await produceEvents({ ...env, WEBHOOK_DELIVERIES: fakeQueue().binding }, Date.now());
    const [delivery] = await deliveriesOf(endpoint.id);
    listening(200);

    const main = createMessageBatch("owlish-webhook-deliveries", [
      { id: "m1", timestamp: new Date(), attempts: 1, body: { deliveryId: delivery!.id } },
    ]);
    let ctx = createExecutionContext();
    await worker.queue!(main as MessageBatch, env, ctx);
    expect(await getQueueResult(main, ctx)).toMatchObject({ outcome: "ok", explicitAcks: ["m1"], retryMessages: [] });
    expect((await deliveriesOf(endpoint.id))[0]!.status).toBe("delivered");

    const dead = createMessageBatch("owlish-webhook-deliveries-dlq", [
      { id: "d1", timestamp: new Date(), attempts: 1, body: { deliveryId: "msg_x" } },
    ]);
    ctx = createExecutionContext();
    await worker.queue!(dead as MessageBatch, env, ctx);
    expect(await getQueueResult(dead, ctx)).toMatchObject({ outcome: "ok", explicitAcks: ["d1"] });

    const capture = captureConsole();
    try {
      const unknown = createMessageBatch("somebody-elses-queue", [{ id: "u1", timestamp: new Date(), attempts: 1, body: {} }]);
      ctx = createExecutionContext();
      await worker.queue!(unknown as MessageBatch, env, ctx);
      expect(await getQueueResult(unknown, ctx)).toMatchObject({ retryBatch: { retry: true }, explicitAcks: [] });
      expect(capture.events()).toContainEqual(expect.objectContaining({ event: "unknown_queue", queue: "somebody-elses-queue" }));
    } finally {
      capture.restore();
    }
  });

  it("the cron runs the webhooks job even when another job fails (the change courier unreachable)", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    const endpoint = await addEndpoint(admin);
    const [key] = await seedKeys(ws, 1);
    await insertChange({ id: key!.id, workspaceId: ws }, "revoked", { reason: "self" });
    listening(200);
    const unreachable = {
      idFromName: () => {
        throw new Error("Durable Object namespace unavailable");
      },
    } as unknown as typeof env.CHANGE_COURIER;
    const capture = captureConsole();
    try {
      const ctx = createExecutionContext();
      await worker.scheduled!(
        createScheduledController({ cron: "* * * * *", scheduledTime: Date.now() }),
        { ...env, CHANGE_COURIER: unreachable },
        ctx,
      );
      await waitOnExecutionContext(ctx);
      expect(capture.events()).toContainEqual(expect.objectContaining({ event: "scheduled_job_failed", job: "kv_delivery" }));
    } finally {
      capture.restore();
    }
    await eventually(async () => expect((await deliveriesOf(endpoint.id)).map((d) => d.status)).toEqual(["delivered"]));
  });

  it("the cron wakes a pending delivery whose wake-up was lost, and deletes finished deliveries after 30 days", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    const endpoint = await addEndpoint(admin, { url: `https://sweep.example.com/${ws}` });
    const now = Date.now();
    const row = (id: string, status: "pending" | "delivered" | "failed", createdAt: number, nextAttemptAt: number | null) => ({
      id,
      endpointId: endpoint.id,
      workspaceId: ws,
      event: "webhook.test",
      payload: JSON.stringify({ type: "webhook.test", timestamp: new Date(createdAt).toISOString(), data: { workspaceId: ws } }),
      createdAt,
      status,
      attempts: 0,
      scheduleFrom: 0,
      lastAttemptAt: null,
      lastResponseStatus: null,
      lastError: null,
      nextAttemptAt,
      leaseUntil: null,
    });
    const suffix = crypto.randomUUID().slice(0, 8);
    await database(env.DB)
      .insert(webhookDeliveries)
      .values([
        row(`msg_lost_${suffix}`, "pending", now - LOST_AFTER_MS - 60_000, now - LOST_AFTER_MS - 1),
        row(`msg_recent_${suffix}`, "pending", now, now + 3_600_000),
        row(`msg_old_done_${suffix}`, "delivered", now - RETENTION_MS - 1, null),
        row(`msg_old_failed_${suffix}`, "failed", now - RETENTION_MS - 1, null),
        row(`msg_kept_${suffix}`, "delivered", now - RETENTION_MS + 60_000, null),
      ]);
    const net = listening(200);
    await cron(now);
    await eventually(async () =>
      expect(net.received.filter((r) => r.url === endpoint.url).map((r) => r.headers["webhook-id"])).toEqual([`msg_lost_${suffix}`]),
    );
    await eventually(async () =>
      expect((await deliveriesOf(endpoint.id)).map((d) => [d.id, d.status]).sort()).toEqual(
        [
          [`msg_kept_${suffix}`, "delivered"],
          [`msg_lost_${suffix}`, "delivered"],
          [`msg_recent_${suffix}`, "pending"],
        ].sort(),
      ),
    );
  });
});
