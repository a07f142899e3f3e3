import { beforeAll, describe, expect, it } from "vitest";
import { call, createKey, createSource, problem, session, sha256Hex } from "../support/helpers";

type Scope = "sources:read" | "sources:write" | "sources:delete";
const SCOPES: Scope[] = ["sources:read", "sources:write", "sources:delete"];

/** Every non-empty subset of the three scopes: 7 sets. */
const SCOPE_SETS: Scope[][] = [];
for (let mask = 1; mask < 8; mask++) SCOPE_SETS.push(SCOPES.filter((_, i) => mask & (1 << i)));

const label = (set: Scope[]) => `[${set.join(", ")}]`;

interface Source {
  id: string;
  name: string;
  type: string;
  url: string | null;
  content: string | null;
  createdAt: string;
  updatedAt: string;
}

// One workspace per scope set, with a full-scope key to set up and inspect fixtures.
const fixtures = new Map<
  string,
  { ws: string; key: string; admin: () => Promise<string>; full: string; createdKey: Record<string, unknown> }
>();

async function fullKey(ws: string) {
  return (await createKey(await session(ws), { name: "fixture", scopes: SCOPES })).key;
}

const newSource = (full: string, name = "fixture source") => createSource<Source>(full, { type: "text", name, content: "hello" });

async function fullList(full: string): Promise<Source[]> {
  const res = await call("GET", "/v1/sources?limit=100", { token: full });
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: Source[] }).data;
}

beforeAll(async () => {
  for (const [i, set] of SCOPE_SETS.entries()) {
    const ws = `ws_scopes_${i}`;
    const admin = () => session(ws);
    const created = await createKey(await admin(), { name: `key ${label(set)}`, scopes: set });
    fixtures.set(label(set), { ws, key: created.key, admin, full: await fullKey(ws), createdKey: created });
  }
});

interface RouteCase {
  name: string;
  scope: Scope;
  success: number;
  /** Sends the request with `key`; `full` may prepare fixtures. */
  send: (key: string, full: string) => Promise<{ res: Response; check: (allowed: boolean) => Promise<void> }>;
}

const ROUTES: RouteCase[] = [
  {
    name: "GET /v1/sources",
    scope: "sources:read",
    success: 200,
    send: async (key, full) => {
      const s = await newSource(full, "listed");
      const res = await call("GET", "/v1/sources", { token: key });
      return {
        res,
        check: async (allowed) => {
          if (allowed) expect(((await res.json()) as { data: Source[] }).data.map((x) => x.id)).toContain(s.id);
          else expect(await res.text()).not.toContain(s.id);
        },
      };
    },
  },
  {
    name: "GET /v1/sources/{id}",
    scope: "sources:read",
    success: 200,
    send: async (key, full) => {
      const s = await newSource(full, "fetched");
      const res = await call("GET", `/v1/sources/${s.id}`, { token: key });
      return {
        res,
        check: async (allowed) => {
          if (allowed) expect(await res.json()).toEqual(s);
          else expect(await res.text()).not.toContain(s.name);
        },
      };
    },
  },
  {
    name: "POST /v1/sources",
    scope: "sources:write",
    success: 201,
    send: async (key, full) => {
      const name = `posted ${crypto.randomUUID()}`;
      const res = await call("POST", "/v1/sources", { token: key, body: { type: "url", name, url: "https://a.example.com" } });
      return {
        res,
        check: async (allowed) => {
          const names = (await fullList(full)).map((x) => x.name);
          if (allowed) expect(names).toContain(name);
          else expect(names).not.toContain(name);
        },
      };
    },
  },
  {
    name: "PATCH /v1/sources/{id}",
    scope: "sources:write",
    success: 200,
    send: async (key, full) => {
      const s = await newSource(full, "before patch");
      const res = await call("PATCH", `/v1/sources/${s.id}`, { token: key, body: { name: "after patch" } });
      return {
        res,
        check: async (allowed) => {
          const now = (await (await call("GET", `/v1/sources/${s.id}`, { token: full })).json()) as Source;
          expect(now.name).toBe(allowed ? "after patch" : "before patch");
        },
      };
    },
  },
  {
    name: "DELETE /v1/sources/{id}",
    scope: "sources:delete",
    success: 204,
    send: async (key, full) => {
      const s = await newSource(full, "to delete");
      const res = await call("DELETE", `/v1/sources/${s.id}`, { token: key });
      return {
        res,
        check: async () => {
          const after = await call("GET", `/v1/sources/${s.id}`, { token: full });
          expect(after.status).toBe(res.status === 204 ? 404 : 200);
        },
      };
    },
  },
];

const CASES = SCOPE_SETS.flatMap((set) => ROUTES.map((route) => ({ set, route, allowed: set.includes(route.scope) })));

describe("scope enforcement on every source route", () => {
  it("covers every route the OpenAPI document guards with a scope, with the scope it documents", async () => {
    const doc = (await (await call("GET", "/openapi.json")).json()) as {
      paths: Record<string, Record<string, { security?: Record<string, string[]>[] }>>;
    };
    const scoped = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).flatMap(([method, op]) =>
        (op.security ?? []).flatMap((s) => (s.apiKey ?? []).map((scope) => `${method.toUpperCase()} ${path} ${scope}`)),
      ),
    );
    expect(ROUTES.map((r) => `${r.name} ${r.scope}`).sort()).toEqual(scoped.sort());
  });

  it.each(CASES.map((c) => [label(c.set), c.route.name, c.allowed ? "allowed" : "refused", c] as const))(
    "key %s on %s: %s",
    async (_set, _route, _verdict, { set, route, allowed }) => {
      const f = fixtures.get(label(set))!;
      const { res, check } = await route.send(f.key, f.full);
      if (allowed) {
        expect(res.status, await res.clone().text()).toBe(route.success);
      } else {
        expect(res.status).toBe(403);
        const p = await problem(res.clone());
        expect(p.code).toBe("insufficient_scope");
        expect(p.status).toBe(403);
        expect(p.requiredScope).toBe(route.scope);
      }
      await check(allowed);
    },
  );

  it("checks the scope before looking at the source: no read scope on an unknown id is 403, not 404", async () => {
    const f = fixtures.get(label(["sources:write"]))!;
    const res = await call("GET", "/v1/sources/src_doesNotExist0000000000", { token: f.key });
    expect(res.status).toBe(403);
    expect((await problem(res)).requiredScope).toBe("sources:read");
  });

  it("checks the scope before validating the body: no write scope with a bad body is 403", async () => {
    const f = fixtures.get(label(["sources:read", "sources:delete"]))!;
    const res = await call("POST", "/v1/sources", { token: f.key, body: { type: "pdf" } });
    expect(res.status).toBe(403);
    expect((await problem(res)).requiredScope).toBe("sources:write");
  });
});

describe("GET /v1/key", () => {
  it.each(SCOPE_SETS.map((set) => [label(set), set] as const))("describes a key with scopes %s", async (_l, set) => {
    const f = fixtures.get(label(set))!;
    const res = await call("GET", "/v1/key", { token: f.key });
    expect(res.status).toBe(200);
    const text = await res.clone().text();
    const body = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(["expiresAt", "id", "name", "prefix", "scopes", "workspaceId"]);
    expect(body).toEqual({
      id: f.createdKey.id,
      name: `key ${label(set)}`,
      prefix: f.createdKey.prefix,
      scopes: set,
      workspaceId: f.ws,
      expiresAt: null,
    });
    // Nothing secret: neither the key, nor its random part, nor its hash.
    const key = f.key;
    expect(text).not.toContain(key);
    expect(text).not.toContain(key.slice("sk_live_".length, "sk_live_".length + 32));
    expect(text.toLowerCase()).not.toContain(await sha256Hex(key));
    expect(key.startsWith(body.prefix as string)).toBe(true);
    expect((body.prefix as string).length).toBeLessThan(key.length - 20);
  });

  it("reports expiresAt as an ISO string for a key that expires", async () => {
    const ws = "ws_scopes_expiring";
    const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
    const created = await createKey(await session(ws), { name: "expiring", scopes: ["sources:delete"], expiresAt });
    const res = await call("GET", "/v1/key", { token: created.key });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      id: created.id,
      name: "expiring",
      prefix: created.prefix,
      scopes: ["sources:delete"],
      workspaceId: ws,
      expiresAt,
    });
  });

  it("refuses a request without a valid key", async () => {
    expect((await call("GET", "/v1/key")).status).toBe(401);
    const admin = await session("ws_scopes_0");
    // A console session is not an API key.
    expect((await call("GET", "/v1/key", { token: admin })).status).toBe(401);
  });
});
