import { listDurableObjectIds, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, onTestFinished } from "vitest";
import { kvKey } from "../../src/keys/verify/kv-copy";
import { fetchWith } from "../support/bindings";
import { captureConsole, createKey, session, sha256Hex } from "../support/helpers";
import type { RequestInit } from "../support/isolate";

const ALL = ["sources:read", "sources:write", "sources:delete"];
const PREFIX = "sk_live_";

/**
 * Every form in which a key's secret could leak: the key, the key without its
 * prefix, its 32 random characters, and any 12-character run of them (the
 * console's prefix legitimately shows only 4).
 */
function secretFragments(key: string): string[] {
  const random = key.slice(PREFIX.length, PREFIX.length + 32);
  const out = [key, key.slice(PREFIX.length), random];
  for (let i = 0; i + 12 <= random.length; i++) out.push(random.slice(i, i + 12));
  return out;
}

function expectNoSecret(where: string, text: string, keys: string[]) {
  for (const key of keys) {
    for (const fragment of secretFragments(key)) {
      if (text.includes(fragment)) throw new Error(`${where} contains secret material of a key: ${fragment}`);
    }
  }
}

async function allKvEntries(): Promise<{ name: string; value: string | null }[]> {
  const out: { name: string; value: string | null }[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page: KVNamespaceListResult<unknown, string> = await env.KEY_CACHE.list(cursor ? { cursor } : {});
    for (const k of page.keys) out.push({ name: k.name, value: await env.KEY_CACHE.get(k.name, "text") });
    if (page.list_complete) break;
    cursor = page.cursor;
  }
  return out;
}

async function d1Tables(): Promise<string[]> {
  const { results } = await env.DB.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all<{ name: string }>();
  return results.map((r) => r.name).filter((n) => !n.startsWith("sqlite_") && !n.startsWith("_cf_"));
}

/** Creates keys in two workspaces, uses them, revokes one, and returns the plaintext keys. */
async function makeActivity(tag: string) {
  const keys: { id: string; key: string }[] = [];
  for (const ws of [`ws_secret_${tag}_1`, `ws_secret_${tag}_2`]) {
    const admin = await session(ws);
    const specs = [
      { name: "full", scopes: ALL },
      { name: "reader", scopes: ["sources:read"] },
      { name: "expiring", scopes: ["sources:write"], expiresAt: new Date(Date.now() + 3_600_000).toISOString() },
    ];
    for (const spec of specs) {
      const created = await createKey(admin, spec);
      keys.push({ id: created.id, key: created.key });
    }
    const [full, reader, writer] = keys.slice(-3);
    // Settled: each call's background work (KV refills, use reports to the recorders) is done when it returns.
    const settled = (method: string, path: string, init: RequestInit) => fetchWith({}, method, path, init);
    expect((await settled("GET", "/v1/key", { token: full!.key })).status).toBe(200);
    expect((await settled("POST", "/v1/sources", { token: full!.key, body: { type: "text", name: "s", content: "c" } })).status).toBe(201);
    expect((await settled("GET", "/v1/sources", { token: reader!.key })).status).toBe(200);
    expect(
      (await settled("POST", "/v1/sources", { token: writer!.key, body: { type: "url", name: "u", url: "https://a.example.com" } })).status,
    ).toBe(201);
    // A revoked key is kept for audit: its row and cache entry must be as clean as the others.
    expect((await settled("POST", `/v1/api-keys/${reader!.id}/revoke`, { token: admin })).status).toBe(200);
    expect((await settled("GET", "/v1/sources", { token: reader!.key })).status).toBe(401);
  }
  return keys;
}

describe("only the SHA-256 of a key is ever stored", () => {
  it("no D1 row, in any table, holds a key or its random part; key_hash is the key's SHA-256", async () => {
    const keys = await makeActivity("d1");
    const plain = keys.map((k) => k.key);

    const tables = await d1Tables();
    expect(tables).toEqual(expect.arrayContaining(["api_keys", "sources"]));
    let rows = 0;
    for (const table of tables) {
      const { results } = await env.DB.prepare(`SELECT * FROM "${table}"`).all<Record<string, unknown>>();
      for (const row of results) {
        rows++;
        for (const [column, value] of Object.entries(row)) {
          expectNoSecret(`${table}.${column}`, typeof value === "string" ? value : JSON.stringify(value), plain);
        }
      }
    }
    expect(rows).toBeGreaterThanOrEqual(keys.length);

    for (const { id, key } of keys) {
      const row = await env.DB.prepare("SELECT * FROM api_keys WHERE id = ?").bind(id).first<Record<string, unknown>>();
      expect(row, id).not.toBeNull();
      expect(row!.key_hash).toMatch(/^[0-9a-f]{64}$/);
      expect(row!.key_hash).toBe(await sha256Hex(key));
      // The only part of the key kept in clear is the short display prefix.
      expect(key.startsWith(row!.prefix as string)).toBe(true);
      expect((row!.prefix as string).length).toBeLessThanOrEqual(PREFIX.length + 4);
    }
  });

  it("no KV entry, name or value, holds a key or its random part; entries are keyed by the hash", async () => {
    const keys = await makeActivity("kv");
    const plain = keys.map((k) => k.key);
    const hashes = await Promise.all(plain.map(sha256Hex));

    // Creation warms KV off the request path (createKey waits for it): every key has its entry.
    const entries = await allKvEntries();
    for (const h of hashes) expect(entries.map((e) => e.name)).toContain(kvKey(h));
    for (const { name, value } of entries) {
      expectNoSecret(`KV name ${name}`, name, plain);
      expectNoSecret(`KV value of ${name}`, value ?? "", plain);
    }
    // The cached record of each key carries its id (so we looked at the right
    // entries), and never a hash-like or key-like field.
    for (const [i, { id }] of keys.entries()) {
      const entry = entries.find((e) => e.name.includes(hashes[i]!));
      expect(entry?.value).toContain(id);
      expect(entry!.value).not.toMatch(/sk_live_[0-9A-Za-z]{20,}/);
    }
  });

  it("the last-used Durable Objects hold no key material", async () => {
    const keys = await makeActivity("do");
    const plain = keys.map((k) => k.key);
    const dumpAll = async () => {
      const dumps: string[] = [];
      for (const id of await listDurableObjectIds(env.LAST_USED)) {
        dumps.push(
          await runInDurableObject(env.LAST_USED.get(id), async (_instance, state) => {
            const tables = state.storage.sql
              .exec<{ name: string }>(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'",
              )
              .toArray();
            return tables.map((t) => JSON.stringify(state.storage.sql.exec(`SELECT * FROM "${t.name}"`).toArray())).join("\n");
          }),
        );
      }
      return dumps.join("\n");
    };
    // The recorders hold these workspaces' uses (so we look at the right storage), and nothing of the keys.
    const dump = await dumpAll();
    expect(dump).toContain("ws_secret_do_1");
    expect(dump).toContain("ws_secret_do_2");
    expectNoSecret("Durable Object storage", dump, plain);
  });
});

describe("nothing logs a key", () => {
  it("creating, using, mis-using and revoking keys writes no key to the console", async () => {
    const { lines, restore } = captureConsole();
    onTestFinished(restore);
    const keys = await makeActivity("log");
    const plain = keys.map((k) => k.key);
    // Failures are logged paths too: a bad checksum, and an unknown key.
    const bad = plain[0]!.slice(0, -1) + (plain[0]!.endsWith("a") ? "b" : "a");
    expect((await fetchWith({}, "GET", "/v1/key", { token: bad })).status).toBe(401);
    expect((await fetchWith({}, "GET", "/v1/key", { token: `${plain[0]}x` })).status).toBe(401);
    expectNoSecret("console output", lines.join("\n"), [...plain, bad]);
  });
});
