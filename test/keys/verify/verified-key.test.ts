import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { database } from "../../../src/db/client";
import { apiKeys } from "../../../src/db/schema";
import { toVerifiedKey } from "../../../src/keys/records";
import { verifiedKeyOfRow } from "../../../src/keys/verify/change-feed";
import { newerState, type VerifiedKey } from "../../../src/keys/verify/verified-key";
import { call, createKey, freshWs, session } from "../../support/helpers";

const HELD: VerifiedKey = {
  id: "key_a",
  workspaceId: "ws_a",
  name: "held",
  prefix: "sk_live_abcd",
  scopes: ["sources:read"],
  expiresAt: null,
  revokedAt: null,
  version: 2,
  budgetId: "key_a",
  ipAllowlist: [],
  rateLimit: null,
};
const state = (fields: Partial<VerifiedKey>): VerifiedKey => ({ ...HELD, ...fields });

describe("records only move forward (newerState): what every cache keeps of two states of one key", () => {
  it("the higher version wins; an equal or lower one is ignored", () => {
    expect(newerState(HELD, state({ version: 3, name: "renamed" })).name).toBe("renamed");
    expect(newerState(HELD, state({ version: 2, name: "same version" }))).toBe(HELD);
    expect(newerState(HELD, state({ version: 1, name: "older" }))).toBe(HELD);
  });

  it("revoked is final: an active state never replaces a revoked one, whatever its version", () => {
    const revoked = state({ revokedAt: 1_000 });
    expect(newerState(revoked, state({ version: 99, revokedAt: null }))).toBe(revoked);
    expect(newerState(HELD, state({ version: 3, revokedAt: 1_000 })).revokedAt).toBe(1_000);
  });

  it("an expiry only moves earlier: a newer state with a later expiry, or none, keeps the held one", () => {
    const expiring = state({ expiresAt: 5_000 });
    expect(newerState(expiring, state({ version: 3, expiresAt: 9_000, name: "later" }))).toMatchObject({ name: "later", expiresAt: 5_000 });
    expect(newerState(expiring, state({ version: 3, expiresAt: null }))).toMatchObject({ expiresAt: 5_000 });
    expect(newerState(expiring, state({ version: 3, expiresAt: 4_000 }))).toMatchObject({ expiresAt: 4_000 });
  });

  it("whatever order the states of a key's history arrive in, a cache ends with the newest and never goes back on the way", () => {
    // A history as the write path makes one: each change bumps the version; revoked stays revoked; an expiry only moves earlier.
    const history = fc.array(fc.constantFrom("rename", "revoke", "shorten"), { minLength: 1, maxLength: 8 }).map((steps) => {
      const states = [state({ version: 1 })];
      steps.forEach((step, i) => {
        const last = states.at(-1)!;
        const next = { ...last, version: last.version + 1 };
        if (step === "rename") next.name = `name ${i}`;
        if (step === "revoke") next.revokedAt = last.revokedAt ?? 1_000 + i;
        if (step === "shorten") next.expiresAt = Math.min(last.expiresAt ?? 10_000, 9_000 - i * 100);
        states.push(next);
      });
      return states;
    });
    const arrivals = history.chain((states) => fc.tuple(fc.constant(states), fc.shuffledSubarray(states, { minLength: states.length })));
    fc.assert(
      fc.property(arrivals, ([states, order]) => {
        let held = order[0]!;
        for (const incoming of order.slice(1)) {
          const next = newerState(held, incoming);
          expect(next.version).toBeGreaterThanOrEqual(held.version);
          if (held.revokedAt !== null) expect(next.revokedAt).toBe(held.revokedAt);
          held = next;
        }
        expect(held).toEqual(states.at(-1));
      }),
    );
  });
});

describe("the change feed's reading of a raw row", () => {
  it("is the verified key the query builder's row gives, guard rails included", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin, { expiresAt: new Date(Date.now() + 86_400_000).toISOString() });
    const patch = await call("PATCH", `/v1/api-keys/${k.id}`, {
      token: admin,
      body: { ipAllowlist: ["192.0.2.0/24"], rateLimit: { limit: 10, periodSeconds: 60 } },
    });
    expect(patch.status).toBe(200);
    const raw = await env.DB.prepare("SELECT * FROM api_keys WHERE id = ?").bind(k.id).first<Record<string, unknown>>();
    const row = await database(env.DB).select().from(apiKeys).where(eq(apiKeys.id, k.id)).get();
    expect(verifiedKeyOfRow(raw!)).toEqual(toVerifiedKey(row!));
    expect(verifiedKeyOfRow(raw!)).toMatchObject({ ipAllowlist: ["192.0.2.0/24"], rateLimit: { limit: 10, periodSeconds: 60 } });
  });
});
