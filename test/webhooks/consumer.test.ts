import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import type { Env } from "../../src/env";
import {
  type ConsumerOptions,
  consumeDeadLetters,
  consumeDeliveries,
  FAILING_DISABLE_MS,
  MAX_ATTEMPTS,
  RETRY_DELAYS_SECONDS,
} from "../../src/webhooks/consumer";
import { produceEvents } from "../../src/webhooks/producer";
import { ATTEMPT_TIMEOUT_MS } from "../../src/webhooks/sender";
import { gate } from "../support/bindings";
import { call, freezeClock, freshWs, session } from "../support/helpers";
import { seedKeys } from "../support/seed";
import { addEndpoint, deliveriesOf, endpointRow, fakeQueue, insertChange, receiver, verified } from "./support";

/**
 * The queue consumer: a wake-up attempts its delivery once if it is due,
 * signs it, records the outcome, and retries with growing delays for more
 * than a day; 410 and three days of failures disable the endpoint.
 */

interface Outcome {
  acked: boolean;
  retried: { delaySeconds?: number } | null;
}

/** A batch of wake-ups whose ack and retry are recorded (with their delays, which the plugin's fake messages drop). */
function wakeUps(ids: string[], attempts = 1) {
  const outcomes: Outcome[] = ids.map(() => ({ acked: false, retried: null }));
  const messages = ids.map((deliveryId, i) => ({
    id: `m${i}-${crypto.randomUUID()}`,
    timestamp: new Date(),
    attempts,
    body: { deliveryId },
    ack: () => {
      outcomes[i]!.acked = true;
    },
    retry: (options: { delaySeconds?: number } = {}) => {
      outcomes[i]!.retried = options;
    },
  }));
  const batch = {
    queue: "owlish-webhook-deliveries",
    messages,
    ackAll: () => {
      for (const o of outcomes) o.acked = true;
    },
    retryAll: (options: { delaySeconds?: number } = {}) => {
      for (const o of outcomes) o.retried = options;
    },
  } as unknown as MessageBatch<unknown>;
  return { batch, outcomes };
}

async function consume(ids: string[], options: ConsumerOptions, overrides: Partial<Env> = {}) {
  const { batch, outcomes } = wakeUps(ids);
  await consumeDeliveries(batch, { ...env, ...overrides }, options);
  return outcomes;
}

/** An endpoint with one pending delivery (a key revoked), written by the producer; answers both. */
async function endpointWithDelivery(body: Record<string, unknown> = {}) {
  const ws = freshWs();
  const admin = await session(ws);
  const endpoint = await addEndpoint(admin, body);
  const delivery = await newDelivery(ws);
  return { ws, admin, endpoint, delivery: delivery! };
}

/** A new event in `ws` (a key revoked) and its delivery to the workspace's only endpoint. */
async function newDelivery(ws: string) {
  const [key] = await seedKeys(ws, 1);
  await insertChange({ id: key!.id, workspaceId: ws }, "revoked", { reason: "admin" });
  const before = new Set((await all()).map((d) => d.id));
  await produceEvents({ ...env, WEBHOOK_DELIVERIES: fakeQueue().binding }, Date.now());
  return (await all()).find((d) => d.workspaceId === ws && !before.has(d.id))!;
}

async function all() {
  const { database } = await import("../../src/db/client");
  const { webhookDeliveries } = await import("../../src/db/schema");
  return database(env.DB).select().from(webhookDeliveries).all();
}

const deliveryRow = async (id: string) => (await all()).find((d) => d.id === id)!;

describe("an attempt", () => {
  it("POSTs the exact body, signed per Standard Webhooks (the reference verifier accepts it), without following redirects; a 2xx is delivered", async () => {
    const { endpoint, delivery } = await endpointWithDelivery();
    const net = receiver(204);
    const outcomes = await consume([delivery.id], { fetch: net.fetch });
    expect(outcomes).toEqual([{ acked: true, retried: null }]);
    expect(net.received).toHaveLength(1);
    const [req] = net.received;
    expect(req!.url).toBe(endpoint.url);
    expect(req!.init).toMatchObject({ method: "POST", redirect: "manual" });
    expect(req!.body).toBe(delivery.payload);
    expect(req!.headers).toMatchObject({
      "content-type": "application/json",
      "webhook-id": delivery.id,
      "webhook-timestamp": expect.stringMatching(/^\d{10}$/),
      "webhook-signature": expect.stringMatching(/^v1,[A-Za-z0-9+/]{43}=$/),
    });
    expect(Math.abs(Number(req!.headers["webhook-timestamp"]) - Date.now() / 1000)).toBeLessThan(5);
    expect(verified(endpoint.secret, req!)).toEqual(JSON.parse(delivery.payload));
    expect(await deliveryRow(delivery.id)).toMatchObject({
      status: "delivered",
      attempts: 1,
      lastResponseStatus: 204,
      lastError: null,
      nextAttemptAt: null,
      leaseUntil: null,
      lastAttemptAt: expect.any(Number),
    });
    const listed = await (
      await call("GET", `/v1/webhooks/${endpoint.id}/deliveries`, { token: await session(delivery.workspaceId) })
    ).json<{
      data: unknown[];
    }>();
    expect(listed.data).toEqual([
      {
        id: delivery.id,
        event: "api_key.revoked",
        createdAt: new Date(delivery.createdAt).toISOString(),
        status: "delivered",
        attempts: 1,
        lastAttemptAt: expect.any(String),
        lastResponseStatus: 204,
        lastError: null,
        nextAttemptAt: null,
      },
    ]);
  });

  it("is refused by the verifier with a wrong secret or a changed body; the signature is HMAC-SHA256 of id.timestamp.body keyed with the decoded secret", async () => {
    const { endpoint, delivery } = await endpointWithDelivery();
    const net = receiver(200);
    await consume([delivery.id], { fetch: net.fetch });
    const req = net.received[0]!;
    const other = await addEndpoint(await session(freshWs()));
    expect(() => new Webhook(other.secret).verify(req.body, req.headers)).toThrow(/signature/i);
    expect(() => new Webhook(endpoint.secret).verify(req.body.replace("api_key.revoked", "api_key.created"), req.headers)).toThrow();
    expect(() => new Webhook(endpoint.secret).verify(req.body, { ...req.headers, "webhook-id": "msg_other" })).toThrow();
    // The same signature by hand, with WebCrypto: an implementation that is not ours.
    const raw = Uint8Array.from(atob(endpoint.secret.slice("whsec_".length)), (c) => c.charCodeAt(0));
    const key = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    const signed = `${req.headers["webhook-id"]}.${req.headers["webhook-timestamp"]}.${req.body}`;
    const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(signed)));
    expect(req.headers["webhook-signature"]).toBe(`v1,${btoa(String.fromCharCode(...mac))}`);
  });

  it("a 3xx is a failure, not followed; so is a 4xx or 5xx, a network error or no answer (recorded as such)", async () => {
    const cases: [number | (() => Promise<Response>), number | null, string | null][] = [
      [301, 301, null],
      [302, 302, null],
      [400, 400, null],
      [503, 503, null],
      [
        () => {
          throw new TypeError("Network connection lost.");
        },
        null,
        "network",
      ],
      [
        () => {
          throw new DOMException("The operation was aborted due to timeout", "TimeoutError");
        },
        null,
        "timeout",
      ],
    ];
    for (const [answer, status, error] of cases) {
      const { delivery } = await endpointWithDelivery();
      const net = receiver(typeof answer === "number" ? answer : async () => answer());
      const [outcome] = await consume([delivery.id], { fetch: net.fetch });
      expect(outcome!.retried, String(status)).toEqual({ delaySeconds: RETRY_DELAYS_SECONDS[0] });
      expect(await deliveryRow(delivery.id)).toMatchObject({
        status: "pending",
        attempts: 1,
        lastResponseStatus: status,
        lastError: error,
      });
      expect(net.received).toHaveLength(1);
    }
  });

  it(`gives up on a receiver that has not answered within ${ATTEMPT_TIMEOUT_MS / 1000} s`, { timeout: 60_000 }, async () => {
    // Real time: the attempt's timer is the runtime's, not a fake one. The one test here that waits 10 s.
    const { delivery } = await endpointWithDelivery();
    let abortedAfter = -1;
    const started = Date.now();
    const hanging = (async (_url: RequestInfo | URL, init: RequestInit = {}) =>
      new Promise<Response>((_resolve, reject) => {
        init.signal?.addEventListener("abort", () => {
          abortedAfter = Date.now() - started;
          reject(init.signal?.reason);
        });
      })) as typeof fetch;
    const [outcome] = await consume([delivery.id], { fetch: hanging });
    expect(abortedAfter).toBeGreaterThanOrEqual(ATTEMPT_TIMEOUT_MS - 100);
    expect(abortedAfter).toBeLessThan(ATTEMPT_TIMEOUT_MS + 5_000);
    expect(outcome!.retried).toEqual({ delaySeconds: RETRY_DELAYS_SECONDS[0] });
    expect(await deliveryRow(delivery.id)).toMatchObject({ status: "pending", lastError: "timeout", lastResponseStatus: null });
  });
});

describe("retries", () => {
  it("a failing receiver is retried with growing delays (each at most 12 h) for more than 24 hours, then the delivery is failed", async () => {
    const clock = freezeClock(Date.parse("2026-11-23T00:00:00Z"));
    const { endpoint, delivery } = await endpointWithDelivery();
    const net = receiver(500);
    const start = Date.now();
    const delays: number[] = [];
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const [outcome] = await consume([delivery.id], { fetch: net.fetch });
      const row = await deliveryRow(delivery.id);
      expect(row.attempts).toBe(attempt);
      if (attempt < MAX_ATTEMPTS) {
        expect(outcome).toEqual({ acked: false, retried: { delaySeconds: expect.any(Number) } });
        const delay = outcome!.retried!.delaySeconds!;
        expect(row).toMatchObject({ status: "pending", nextAttemptAt: Date.now() + delay * 1000 });
        // A wake-up that comes early is put back until the attempt is due, and sends nothing.
        const [early] = await consume([delivery.id], { fetch: net.fetch });
        expect(early).toEqual({ acked: false, retried: { delaySeconds: delay } });
        delays.push(delay);
        clock.advance(delay * 1000);
      } else {
        expect(outcome).toEqual({ acked: true, retried: null });
        expect(row).toMatchObject({ status: "failed", nextAttemptAt: null, lastResponseStatus: 500 });
      }
    }
    expect(net.received).toHaveLength(MAX_ATTEMPTS);
    expect(delays).toEqual([...RETRY_DELAYS_SECONDS]);
    for (let i = 1; i < delays.length; i++) expect(delays[i]).toBeGreaterThan(delays[i - 1]!);
    expect(Math.max(...delays)).toBeLessThanOrEqual(43_200);
    expect(Date.now() - start).toBeGreaterThan(24 * 3_600_000);
    // Every attempt carried the same webhook-id and body.
    expect(new Set(net.received.map((r) => r.headers["webhook-id"]))).toEqual(new Set([delivery.id]));
    expect(new Set(net.received.map((r) => r.body)).size).toBe(1);
    // A day of failures does not disable the endpoint: three days do.
    expect((await endpointRow(endpoint.id))!.disabledAt).toBeNull();
  });

  it("a receiver back up after some failures gets it delivered, and the endpoint's failure streak ends", async () => {
    const clock = freezeClock(Date.parse("2026-11-23T00:00:00Z"));
    const { endpoint, delivery } = await endpointWithDelivery();
    const net = receiver(500, 502, 200);
    for (const delay of [RETRY_DELAYS_SECONDS[0], RETRY_DELAYS_SECONDS[1]]) {
      expect((await consume([delivery.id], { fetch: net.fetch }))[0]!.retried).toEqual({ delaySeconds: delay });
      expect((await endpointRow(endpoint.id))!.failingSince).toBe(Date.parse("2026-11-23T00:00:00Z"));
      clock.advance(delay * 1000);
    }
    expect(await consume([delivery.id], { fetch: net.fetch })).toEqual([{ acked: true, retried: null }]);
    expect(await deliveryRow(delivery.id)).toMatchObject({ status: "delivered", attempts: 3, lastResponseStatus: 200 });
    expect((await endpointRow(endpoint.id))!.failingSince).toBeNull();
  });
});

describe("disabling an endpoint", () => {
  /** The endpoint's events in the workspace's audit trail, as an admin lists them. */
  const trailOf = async (ws: string, endpointId: string) => {
    const res = await call("GET", "/v1/audit-events?limit=100", { token: await session(ws) });
    expect(res.status).toBe(200);
    const { data } = await res.json<{ data: { action: string; webhookId: string | null; actorId: string; details: unknown }[] }>();
    return data.filter((e) => e.webhookId === endpointId).map(({ action, actorId, details }) => ({ action, actorId, details }));
  };

  it("410 Gone disables it at once (gone): the delivery and its other pending ones fail, and new events are not addressed to it", async () => {
    const { ws, endpoint, delivery } = await endpointWithDelivery();
    const second = await newDelivery(ws);
    const net = receiver(410);
    expect(await consume([delivery.id], { fetch: net.fetch })).toEqual([{ acked: true, retried: null }]);
    expect(await endpointRow(endpoint.id)).toMatchObject({ disabledAt: expect.any(Number), disabledReason: "gone" });
    expect(await deliveryRow(delivery.id)).toMatchObject({ status: "failed", lastResponseStatus: 410, nextAttemptAt: null });
    expect(await deliveryRow(second.id)).toMatchObject({ status: "failed", lastError: "endpoint_disabled", attempts: 0 });
    // The other one's wake-up sends nothing.
    expect(await consume([second.id], { fetch: net.fetch })).toEqual([{ acked: true, retried: null }]);
    expect(net.received).toHaveLength(1);
    const admin = await session(ws);
    expect(await (await call("GET", `/v1/webhooks/${endpoint.id}`, { token: admin })).json()).toMatchObject({ disabledReason: "gone" });
    const before = (await deliveriesOf(endpoint.id)).length;
    await newDelivery(ws);
    expect(await deliveriesOf(endpoint.id)).toHaveLength(before);
    // In the audit trail once, by the service, with why (the second wake-up disabled nothing).
    expect((await trailOf(ws, endpoint.id)).filter((e) => e.action === "webhook.updated")).toEqual([
      { action: "webhook.updated", actorId: "webhook_delivery", details: { fields: ["enabled"], reason: "gone" } },
    ]);
  });

  it("every attempt failing for 3 days disables it (failing); a success inside the 3 days starts the count again", async () => {
    const start = Date.parse("2026-11-23T00:00:00Z");
    const clock = freezeClock(start);
    const { ws, endpoint, delivery } = await endpointWithDelivery();
    const failing = receiver(500);
    await consume([delivery.id], { fetch: failing.fetch });
    expect((await endpointRow(endpoint.id))!.failingSince).toBe(start);

    // Two days on, one event gets through: the streak ends.
    clock.advance(2 * 86_400_000);
    const fine = await newDelivery(ws);
    await consume([fine.id], { fetch: receiver(200).fetch });
    expect((await endpointRow(endpoint.id))!.failingSince).toBeNull();

    // Failures again, from now: just under three days is not enough…
    const streak = Date.now();
    const a = await newDelivery(ws);
    await consume([a.id], { fetch: failing.fetch });
    clock.advance(FAILING_DISABLE_MS - 1);
    const b = await newDelivery(ws);
    await consume([b.id], { fetch: failing.fetch });
    expect(await endpointRow(endpoint.id)).toMatchObject({ disabledAt: null, failingSince: streak });
    // …three days is.
    clock.advance(1);
    const c = await newDelivery(ws);
    expect(await consume([c.id], { fetch: failing.fetch })).toEqual([{ acked: true, retried: null }]);
    expect(await endpointRow(endpoint.id)).toMatchObject({ disabledAt: Date.now(), disabledReason: "failing" });
    expect(await deliveryRow(c.id)).toMatchObject({ status: "failed", lastResponseStatus: 500 });
    expect(await deliveryRow(b.id)).toMatchObject({ status: "failed", lastError: "endpoint_disabled" });
    expect((await trailOf(ws, endpoint.id)).filter((e) => e.action === "webhook.updated")).toEqual([
      { action: "webhook.updated", actorId: "webhook_delivery", details: { fields: ["enabled"], reason: "failing" } },
    ]);
  });
});

describe("wake-ups that are not the delivery's turn", () => {
  it("two copies of a wake-up at once send once; a copy after the delivery was made sends nothing; there is one delivery record", async () => {
    const { endpoint, delivery } = await endpointWithDelivery();
    const held = gate();
    const net = receiver(async () => {
      await held.pass();
      return new Response(null, { status: 200 });
    });
    const first = consume([delivery.id], { fetch: net.fetch });
    await held.arrived(1);
    // The second copy finds it held by the first: it is put back until the hold ends, and sends nothing.
    const [second] = await consume([delivery.id], { fetch: net.fetch });
    expect(second!.acked).toBe(false);
    expect(second!.retried!.delaySeconds).toBeGreaterThan(0);
    held.open();
    expect(await first).toEqual([{ acked: true, retried: null }]);
    expect(await consume([delivery.id, delivery.id], { fetch: net.fetch })).toEqual([
      { acked: true, retried: null },
      { acked: true, retried: null },
    ]);
    expect(net.received).toHaveLength(1);
    expect(await deliveriesOf(endpoint.id)).toHaveLength(1);
    expect(await deliveryRow(delivery.id)).toMatchObject({ attempts: 1, status: "delivered" });
  });

  it("a wake-up for a delivery that no longer exists, or a malformed one, is acked without a request", async () => {
    const net = receiver(200);
    expect(await consume(["msg_gone"], { fetch: net.fetch })).toEqual([{ acked: true, retried: null }]);
    const { batch, outcomes } = wakeUps([]);
    (batch.messages as unknown[]).push({
      id: "x",
      timestamp: new Date(),
      attempts: 1,
      body: "nonsense",
      ack: () => outcomes.push({ acked: true, retried: null }),
      retry: () => {},
    });
    await consumeDeliveries(batch, env, { fetch: net.fetch });
    expect(outcomes).toEqual([{ acked: true, retried: null }]);
    expect(net.received).toEqual([]);
  });

  it("without usable WEBHOOK_SECRET_KEYS nothing is sent: the delivery stays pending and its wake-up comes back later", async () => {
    const { delivery } = await endpointWithDelivery();
    const net = receiver(200);
    const [outcome] = await consume([delivery.id], { fetch: net.fetch }, { WEBHOOK_SECRET_KEYS: "" });
    expect(outcome).toEqual({ acked: false, retried: { delaySeconds: 300 } });
    expect(net.received).toEqual([]);
    expect(await deliveryRow(delivery.id)).toMatchObject({ status: "pending", attempts: 0, leaseUntil: null });
    expect(await consume([delivery.id], { fetch: net.fetch })).toEqual([{ acked: true, retried: null }]);
  });

  it("a URL the deployment no longer allows (a loopback one, once local URLs are off) is not fetched: the attempt fails", async () => {
    const ws = freshWs();
    const admin = await session(ws);
    const endpoint = await addEndpoint(admin, { url: "http://127.0.0.1:9/hook" }, { WEBHOOK_ALLOW_LOCAL_URLS: "true" });
    const delivery = await newDelivery(ws);
    const net = receiver(200);
    const [outcome] = await consume([delivery.id], { fetch: net.fetch });
    expect(outcome!.retried).toEqual({ delaySeconds: RETRY_DELAYS_SECONDS[0] });
    expect(net.received).toEqual([]);
    expect(await deliveryRow(delivery.id)).toMatchObject({ lastError: "url_not_allowed", attempts: 1 });
    expect(endpoint.url).toBe("http://127.0.0.1:9/hook");
  });

  it("'produce' messages run the producer once per batch and are acked; the new deliveries get their own wake-ups", async () => {
    const ws = freshWs();
    const endpoint = await addEndpoint(await session(ws));
    const [key] = await seedKeys(ws, 1);
    await insertChange({ id: key!.id, workspaceId: ws }, "revoked", { reason: "admin" });
    const queue = fakeQueue();
    const outcomes: Outcome[] = [];
    const produce = (i: number) => ({
      id: `p${i}`,
      timestamp: new Date(),
      attempts: 1,
      body: { produce: true },
      ack: () => outcomes.push({ acked: true, retried: null }),
      retry: (o: { delaySeconds?: number }) => outcomes.push({ acked: false, retried: o }),
    });
    const batch = { queue: "owlish-webhook-deliveries", messages: [produce(1), produce(2)] } as unknown as MessageBatch<unknown>;
    const net = receiver(200);
    await consumeDeliveries(batch, { ...env, WEBHOOK_DELIVERIES: queue.binding }, { fetch: net.fetch });
    expect(outcomes).toEqual([
      { acked: true, retried: null },
      { acked: true, retried: null },
    ]);
    const [delivery] = await deliveriesOf(endpoint.id);
    expect(delivery).toMatchObject({ event: "api_key.revoked", status: "pending" });
    expect(queue.sent.filter((m) => "deliveryId" in m && m.deliveryId === delivery!.id)).toHaveLength(1);
    expect(net.received).toEqual([]);
  });

  it("the dead-letter queue's consumer marks its deliveries failed", async () => {
    const { delivery } = await endpointWithDelivery();
    const { batch, outcomes } = wakeUps([delivery.id]);
    await consumeDeadLetters(batch, env);
    expect(outcomes).toEqual([{ acked: true, retried: null }]);
    expect(await deliveryRow(delivery.id)).toMatchObject({ status: "failed", lastError: "dead_lettered", nextAttemptAt: null });
  });
});
