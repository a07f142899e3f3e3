import { describe, expect, it } from "vitest";
import { call } from "./helpers";

/** GET /openapi.json and GET /docs: the API reference the service serves. */

// biome-ignore lint/suspicious/noExplicitAny: the OpenAPI document is untyped JSON walked by key.
type Json = Record<string, any>;

/** Every route the service offers, with its methods and the security scheme it uses. */
const ROUTES: Record<string, Record<string, "sessionToken" | "apiKey" | null>> = {
  "/health": { get: null },
  "/v1/api-keys": { get: "sessionToken", post: "sessionToken" },
  "/v1/api-keys/{id}": { get: "sessionToken", patch: "sessionToken" },
  "/v1/api-keys/{id}/revoke": { post: "sessionToken" },
  "/v1/api-keys/{id}/usage": { get: "sessionToken" },
  "/v1/key-usage": { get: "sessionToken" },
  "/v1/api-keys/{id}/roll": { post: "sessionToken" },
  "/v1/key/revoke": { post: "apiKey" },
  "/v1/secret-scanning/github": { post: null },
  "/v1/sources": { get: "apiKey", post: "apiKey" },
  "/v1/sources/{id}": { get: "apiKey", patch: "apiKey", delete: "apiKey" },
  "/v1/key": { get: "apiKey" },
};
const HTTP_METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

const SUCCESS: Record<string, string> = {
  "post /v1/api-keys": "201",
  "get /v1/api-keys": "200",
  "get /v1/api-keys/{id}": "200",
  "patch /v1/api-keys/{id}": "200",
  "post /v1/api-keys/{id}/revoke": "200",
  "get /v1/api-keys/{id}/usage": "200",
  "get /v1/key-usage": "200",
  "post /v1/api-keys/{id}/roll": "201",
  "post /v1/key/revoke": "200",
  "post /v1/secret-scanning/github": "200",
  "get /v1/sources": "200",
  "post /v1/sources": "201",
  "get /v1/sources/{id}": "200",
  "patch /v1/sources/{id}": "200",
  "delete /v1/sources/{id}": "204",
  "get /v1/key": "200",
  "get /health": "200",
};

let cached: Json | undefined;
async function openapi(): Promise<Json> {
  if (!cached) {
    const res = await call("GET", "/openapi.json");
    expect(res.status).toBe(200);
    cached = (await res.json()) as Json;
  }
  return cached;
}

function resolve(doc: Json, schema: Json | undefined): Json {
  expect(schema).toBeDefined();
  if (schema!.$ref) {
    const ref = String(schema!.$ref);
    expect(ref.startsWith("#/components/schemas/")).toBe(true);
    const target = doc.components?.schemas?.[ref.split("/").pop()!];
    expect(target, ref).toBeDefined();
    return resolve(doc, target);
  }
  return schema!;
}

/** Property names an object schema (or each variant of a union) declares. */
function propertyNames(doc: Json, schema: Json): Set<string> {
  const s = resolve(doc, schema);
  const variants: Json[] | undefined = s.oneOf ?? s.anyOf ?? s.allOf;
  if (variants) return new Set(variants.flatMap((v) => [...propertyNames(doc, v)]));
  return new Set(Object.keys(s.properties ?? {}));
}

function requestBodySchema(doc: Json, path: string, method: string): Json {
  const body = doc.paths[path][method].requestBody;
  expect(body, `${method} ${path} requestBody`).toBeDefined();
  const schema = body.content?.["application/json"]?.schema;
  expect(schema, `${method} ${path} application/json schema`).toBeDefined();
  return resolve(doc, schema);
}

describe("GET /openapi.json", () => {
  it("is an OpenAPI 3.1 document served as JSON without auth", async () => {
    const res = await call("GET", "/openapi.json");
    expect(res.status).toBe(200);
    expect(res.headers.get("Content-Type")).toMatch(/^application\/(vnd\.oai\.openapi\+)?json/);
    const doc = (await res.json()) as Json;
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(typeof doc.info?.title).toBe("string");
    expect(typeof doc.info?.version).toBe("string");
    expect(typeof doc.paths).toBe("object");
  });

  it("lists every route with exactly the right methods", async () => {
    const doc = await openapi();
    for (const [path, methods] of Object.entries(ROUTES)) {
      expect(doc.paths[path], path).toBeDefined();
      const documented = Object.keys(doc.paths[path]).filter((k) => HTTP_METHODS.includes(k));
      expect(documented.sort(), path).toEqual(Object.keys(methods).sort());
    }
  });

  it("documents no other key route (nothing un-revokes a key)", async () => {
    const doc = await openapi();
    const keyPaths = Object.keys(doc.paths).filter((p) => p === "/v1/api-keys" || p.startsWith("/v1/api-keys/"));
    expect(keyPaths.sort()).toEqual([
      "/v1/api-keys",
      "/v1/api-keys/{id}",
      "/v1/api-keys/{id}/requests",
      "/v1/api-keys/{id}/revoke",
      "/v1/api-keys/{id}/roll",
      "/v1/api-keys/{id}/usage",
    ]);
    // No operation anywhere reactivates, restores or un-revokes something.
    for (const path of Object.keys(doc.paths)) expect(path).not.toMatch(/un-?revoke|reactivat|restore|activate/i);
  });

  it("declares both bearer schemes: sessionToken and apiKey", async () => {
    const doc = await openapi();
    const schemes = doc.components?.securitySchemes ?? {};
    for (const name of ["sessionToken", "apiKey"]) {
      expect(schemes[name], name).toBeDefined();
      expect(schemes[name].type).toBe("http");
      expect(String(schemes[name].scheme).toLowerCase()).toBe("bearer");
    }
    expect(schemes.sessionToken.bearerFormat).toMatch(/JWT/i);
  });

  it("marks each route with the security scheme it takes (none for /health)", async () => {
    const doc = await openapi();
    for (const [path, methods] of Object.entries(ROUTES)) {
      for (const [method, scheme] of Object.entries(methods)) {
        const op = doc.paths[path][method];
        const names = (op.security ?? doc.security ?? []).flatMap((s: Json) => Object.keys(s));
        if (scheme === null) expect(names, `${method} ${path}`).toEqual([]);
        else expect(names, `${method} ${path}`).toEqual([scheme]);
      }
    }
  });

  it("documents each route's success status", async () => {
    const doc = await openapi();
    for (const [route, status] of Object.entries(SUCCESS)) {
      const [method, path] = route.split(" ") as [string, string];
      expect(Object.keys(doc.paths[path][method].responses ?? {}), route).toContain(status);
    }
  });

  it("has a request body schema for POST /v1/api-keys: name, scopes, expiresAt, ipAllowlist, rateLimit", async () => {
    const doc = await openapi();
    const schema = requestBodySchema(doc, "/v1/api-keys", "post");
    expect(schema.type).toBe("object");
    expect(Object.keys(schema.properties).sort()).toEqual(["expiresAt", "ipAllowlist", "name", "rateLimit", "scopes"]);
    expect([...(schema.required ?? [])].sort()).toEqual(["name", "scopes"]);
    // The same constraints the validator enforces.
    expect(schema.properties.name).toMatchObject({ type: "string", minLength: 1, maxLength: 100 });
    const scopes = schema.properties.scopes;
    expect(scopes.type).toBe("array");
    expect(scopes.minItems).toBe(1);
    expect([...resolve(doc, scopes.items).enum].sort()).toEqual(["sources:delete", "sources:read", "sources:write"]);
  });

  it("has request body schemas for POST /v1/sources and PATCH /v1/sources/{id}", async () => {
    const doc = await openapi();
    const create = requestBodySchema(doc, "/v1/sources", "post");
    expect([...propertyNames(doc, create)].sort()).toEqual(["content", "name", "type", "url"]);
    const update = requestBodySchema(doc, "/v1/sources/{id}", "patch");
    for (const field of ["name", "type", "url", "content"]) expect(propertyNames(doc, update)).toContain(field);
  });

  it("describes the list query (status, limit 1–100 default 50, cursor) and the id path parameter", async () => {
    const doc = await openapi();
    const params: Json[] = doc.paths["/v1/api-keys"].get.parameters ?? [];
    const byName = Object.fromEntries(params.map((p) => [p.name, p]));
    expect(byName.status?.in).toBe("query");
    expect([...byName.status.schema.enum].sort()).toEqual(["active", "revoked"]);
    expect(byName.status.schema.default).toBe("active");
    expect(byName.limit?.in).toBe("query");
    expect(byName.limit.schema).toMatchObject({ minimum: 1, maximum: 100, default: 50 });
    expect(byName.cursor?.in).toBe("query");
    for (const [path, methods] of Object.entries(ROUTES)) {
      if (!path.includes("{id}")) continue;
      for (const method of Object.keys(methods)) {
        const id = (doc.paths[path][method].parameters ?? []).find((p: Json) => p.name === "id");
        expect(id, `${method} ${path}`).toMatchObject({ in: "path", required: true });
      }
    }
  });

  it("the key record schema holds the record fields and never the key or a hash; creation adds key", async () => {
    const doc = await openapi();
    const recordFields = [
      "createdAt",
      "createdBy",
      "expiresAt",
      "id",
      "ipAllowlist",
      "lastUsedAt",
      "lastUsedCountry",
      "lastUsedIp",
      "name",
      "prefix",
      "rateLimit",
      "revocationReason",
      "revokedAt",
      "revokedBy",
      "rolledFrom",
      "rolledTo",
      "scopes",
      "usedAfterRevokeAt",
    ];
    const get = doc.paths["/v1/api-keys/{id}"].get.responses["200"].content["application/json"].schema;
    expect([...propertyNames(doc, get)].sort()).toEqual(recordFields);
    const created = doc.paths["/v1/api-keys"].post.responses["201"].content["application/json"].schema;
    expect([...propertyNames(doc, created)].sort()).toEqual([...recordFields, "key"].sort());
    const list = resolve(doc, doc.paths["/v1/api-keys"].get.responses["200"].content["application/json"].schema);
    expect(Object.keys(list.properties).sort()).toEqual(["data", "nextCursor"]);
    expect([...propertyNames(doc, list.properties.data.items)].sort()).toEqual(recordFields);
  });

  it("documents errors as application/problem+json with type, title, status, detail, code", async () => {
    const doc = await openapi();
    for (const [path, methods] of Object.entries(ROUTES)) {
      for (const [method, scheme] of Object.entries(methods)) {
        if (scheme === null) continue;
        const r401 = doc.paths[path][method].responses?.["401"];
        expect(r401, `${method} ${path} 401`).toBeDefined();
        const schema = r401.content?.["application/problem+json"]?.schema;
        expect(schema, `${method} ${path} 401 problem+json`).toBeDefined();
        for (const field of ["type", "title", "status", "detail", "code"]) expect(propertyNames(doc, schema)).toContain(field);
      }
    }
  });

  it("every $ref in the document resolves", async () => {
    const doc = await openapi();
    const refs: string[] = [];
    const walk = (v: unknown) => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === "object") {
        for (const [k, x] of Object.entries(v)) {
          if (k === "$ref" && typeof x === "string") refs.push(x);
          else walk(x);
        }
      }
    };
    walk(doc);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) {
      const target = ref
        .replace(/^#\//, "")
        .split("/")
        .reduce<unknown>((node, part) => (node as Json | undefined)?.[part.replaceAll("~1", "/").replaceAll("~0", "~")], doc);
      expect(target, ref).toBeDefined();
    }
  });
});

describe("GET /docs", () => {
  async function page() {
    const res = await call("GET", "/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("Content-Type")).toMatch(/^text\/html/);
    return res.text();
  }

  it("is an HTML page served without auth", async () => {
    const html = await page();
    expect(html.trimStart().toLowerCase().startsWith("<!doctype html")).toBe(true);
    expect(html).toMatch(/<\/html>\s*$/i);
  });

  it("mentions every route path and method", async () => {
    const html = await page();
    for (const [path, methods] of Object.entries(ROUTES)) {
      expect(html, path).toContain(path);
      for (const method of Object.keys(methods)) {
        expect(html, `${method} ${path}`).toMatch(
          new RegExp(`${method.toUpperCase()}[^<]*(<[^>]*>[^<]*){0,4}${path.replace(/[{}]/g, "\\$&")}`),
        );
      }
    }
  });

  it("mentions both authentication schemes and the scopes", async () => {
    const html = await page();
    expect(html).toContain("sessionToken");
    expect(html).toContain("apiKey");
    for (const scope of ["sources:read", "sources:write", "sources:delete"]) expect(html).toContain(scope);
  });

  it("loads nothing from another origin", async () => {
    const html = await page();
    const external = /^\s*(https?:)?\/\//i;
    // Every tag that makes the browser fetch something.
    const loaders = /<(script|link|img|iframe|frame|source|video|audio|embed|object|track|image|use|input)\b[^>]*>/gi;
    const attrs = /\b(src|href|srcset|data|poster|xlink:href)\s*=\s*("([^"]*)"|'([^']*)'|([^\s>]+))/gi;
    const offenders: string[] = [];
    for (const tag of html.matchAll(loaders)) {
      for (const a of tag[0].matchAll(attrs)) {
        const value = a[3] ?? a[4] ?? a[5] ?? "";
        if (value.split(",").some((part) => external.test(part))) offenders.push(tag[0]);
      }
    }
    // CSS that pulls in resources: @import and url(...).
    for (const m of html.matchAll(/@import\s+(url\()?\s*["']?([^"')\s;]+)/gi)) if (external.test(m[2]!)) offenders.push(m[0]);
    for (const m of html.matchAll(/url\(\s*["']?([^"')]+)/gi)) if (external.test(m[1]!)) offenders.push(m[0]);
    // A <base> pointing elsewhere would make every relative URL external.
    for (const m of html.matchAll(/<base\b[^>]*>/gi)) offenders.push(m[0]);
    expect(offenders).toEqual([]);
  });
});
