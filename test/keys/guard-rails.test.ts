import { afterEach, describe, expect, it, vi } from "vitest";
import { GUARD_RAIL_FIELDS, GUARD_RAILS, type GuardRailValues, RAILS } from "../../src/keys/guard-rails";
import { isVerifiedKey } from "../../src/keys/verify/verified-key";
import { isUse } from "../../src/usage/outcomes";
import { call, freshWs, session } from "../support/helpers";

/**
 * The guard-rail table (src/keys/guard-rails.ts) drives create, PATCH, roll
 * and verification: a row added there is in every one of them, or a test here fails.
 */

/** A value that turns each rail on, for a call from CLIENT_IP that the rail lets through. Typed by the table: a new rail needs one. */
const ON: GuardRailValues = { ipAllowlist: ["203.0.113.0/24"], rateLimit: { limit: 1000, periodSeconds: 3600 } };
const CLIENT_IP = "203.0.113.7";

// biome-ignore lint/suspicious/noExplicitAny: the OpenAPI document is untyped JSON.
type Json = Record<string, any>;
const openapi = async (): Promise<Json> => (await call("GET", "/openapi.json")).json();

afterEach(() => vi.restoreAllMocks());

describe("the guard-rail table", () => {
  it("every rail is a field of the key record and of the create body; the patchable ones, and only they, of the PATCH body", async () => {
    const schemas = (await openapi()).components.schemas;
    for (const field of GUARD_RAIL_FIELDS) expect(Object.keys(schemas.ApiKey.properties), field).toContain(field);
    const create = Object.keys(schemas.CreateApiKey.properties);
    const update = Object.keys(schemas.UpdateApiKey.properties);
    for (const field of GUARD_RAIL_FIELDS) {
      expect(create, field).toContain(field);
      expect(update.includes(field), field).toBe(GUARD_RAILS[field].patchable);
    }
  });

  it("create takes each rail (default when left out), PATCH changes the patchable ones, a roll copies those it inherits", async () => {
    const admin = await session(freshWs());
    const plain = await (
      await call("POST", "/v1/api-keys", { token: admin, body: { name: "plain", scopes: ["sources:read"] } })
    ).json<Json>();
    for (const field of GUARD_RAIL_FIELDS) expect(plain[field], field).toEqual(GUARD_RAILS[field].default);

    const guarded = await (
      await call("POST", "/v1/api-keys", { token: admin, body: { name: "guarded", scopes: ["sources:read"], ...ON } })
    ).json<Json>();
    for (const field of GUARD_RAIL_FIELDS) expect(guarded[field], field).toEqual(ON[field]);

    const patchable = Object.fromEntries(GUARD_RAIL_FIELDS.filter((f) => GUARD_RAILS[f].patchable).map((f) => [f, ON[f]]));
    const res = await call("PATCH", `/v1/api-keys/${plain.id}`, { token: admin, body: patchable });
    expect(res.status).toBe(200);
    const patched = await res.json<Json>();
    for (const [field, value] of Object.entries(patchable)) expect(patched[field], field).toEqual(value);

    const rolled = await (await call("POST", `/v1/api-keys/${guarded.id}/roll`, { token: admin })).json<Json>();
    for (const field of GUARD_RAIL_FIELDS) {
      expect(rolled[field], field).toEqual(GUARD_RAILS[field].rollInherits ? ON[field] : GUARD_RAILS[field].default);
    }
  });

  it("verification runs each rail's check on a key that has it on, in table order around the use, and none on a key without", async () => {
    const admin = await session(freshWs());
    const create = async (rails: Partial<GuardRailValues>) =>
      (await call("POST", "/v1/api-keys", { token: admin, body: { name: "k", scopes: ["sources:read"], ...rails } })).json<Json>();
    const on = await create(ON);
    const off = await create({});
    const checks = RAILS.map((rail) => vi.spyOn(rail, "check"));

    const headers = { "CF-Connecting-IP": CLIENT_IP };
    expect((await call("GET", "/v1/key", { token: off.key, headers })).status).toBe(200);
    for (const check of checks) expect(check).not.toHaveBeenCalled();

    expect((await call("GET", "/v1/key", { token: on.key, headers })).status).toBe(200);
    RAILS.forEach((rail, i) => {
      expect(checks[i], rail.field).toHaveBeenCalledOnce();
      expect(checks[i]!.mock.calls[0]![0], rail.field).toEqual(ON[rail.field]);
    });
    // Rails whose refusal is not a use run before those whose refusal is.
    const order = RAILS.map((rail, i) => ({ rail, at: checks[i]!.mock.invocationCallOrder[0]! })).sort((a, b) => a.at - b.at);
    expect(order.map((o) => o.rail.refusalIsAUse)).toEqual([...order.map((o) => o.rail.refusalIsAUse)].sort());
  });

  it("a rail's refusal counts as a use in usage and the request log exactly when its row says so", () => {
    for (const rail of RAILS) expect([rail.field, isUse(rail.refusal)]).toEqual([rail.field, rail.refusalIsAUse]);
  });

  it("a KV copy whose rail value has the wrong shape is not a verified key; the defaults and ON values are", () => {
    const base = {
      id: "key_x",
      workspaceId: "ws",
      name: "n",
      prefix: "sk_live_abcd",
      scopes: ["sources:read"],
      expiresAt: null,
      revokedAt: null,
    };
    const defaults = Object.fromEntries(GUARD_RAIL_FIELDS.map((f) => [f, GUARD_RAILS[f].default]));
    expect(isVerifiedKey({ ...base, ...defaults })).toBe(true);
    expect(isVerifiedKey({ ...base, ...ON })).toBe(true);
    for (const field of GUARD_RAIL_FIELDS) {
      expect(isVerifiedKey({ ...base, ...defaults, [field]: "not a rail value" }), field).toBe(false);
      const { [field]: _, ...missing } = defaults;
      expect(isVerifiedKey({ ...base, ...missing }), `${field} missing`).toBe(false);
    }
  });
});
