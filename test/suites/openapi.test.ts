import { describe, expect, it } from "vitest";
import { AUDIT_ACTIONS } from "../../src/audit/events";
import { exampleOf } from "../../src/docs/examples";
import { OPERATIONS } from "../../src/routes";
import type { AuthKind } from "../../src/routes/operation";
import { call, freshWs, session } from "../support/helpers";
import { BASE } from "../support/isolate";
import { type ListedOperation, label } from "../support/operations";

/** GET /openapi.json and GET /docs: the API reference the service serves. */

// biome-ignore lint/suspicious/noExplicitAny: the OpenAPI document is untyped JSON walked by key.
type Json = Record<string, any>;

const HTTP_METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/**
 * The HTTP contract's success status of each operation (201 for what
 * creates a key or a source, 204 for a delete, 200 otherwise), by
 * operationId. Every operation of the route list must be here: a new one
 * fails "states the success status of every listed operation" until its
 * status is.
 */
const SUCCESS: Record<string, string> = {
  createApiKey: "201",
  listApiKeys: "200",
  getApiKey: "200",
  updateApiKey: "200",
  revokeApiKey: "200",
  getApiKeyUsage: "200",
  listApiKeyRequests: "200",
  eraseRequestLog: "204",
  listApiKeyUsage: "200",
  rollApiKey: "201",
  revokeCallingKey: "200",
  reportLeakedKeys: "200",
  listSources: "200",
  createSource: "201",
  getSource: "200",
  updateSource: "200",
  deleteSource: "204",
  getCallingKey: "200",
  health: "200",
  listAuditEvents: "200",
  createWebhook: "201",
  listWebhooks: "200",
  getWebhook: "200",
  updateWebhook: "200",
  deleteWebhook: "204",
  testWebhook: "202",
  listWebhookDeliveries: "200",
  retryWebhookDelivery: "202",
  getKeyAttention: "200",
  getKeyPolicy: "200",
  putKeyPolicy: "200",
};

/** The security scheme each auth kind is documented with (null: none). */
const SCHEME: Record<AuthKind, "sessionToken" | "apiKey" | null> = {
  admin: "sessionToken",
  key: "apiKey",
  none: null,
  github_signature: null,
};

/**
 * The problems the contract gives each auth kind, by status: every listed
 * operation of that kind must document each of them (with an example).
 */
const AUTH_PROBLEMS: Record<AuthKind, (op: ListedOperation) => Record<string, string[]>> = {
  admin: () => ({
    "401": ["missing_credentials", "invalid_credentials", "expired_credentials"],
    "403": ["forbidden"],
    "429": ["too_many_requests"],
  }),
  key: (op) => {
    // Self-revocation: the key's guard rails do not apply, so neither do their refusals.
    const rails = op.guardRails;
    const forbidden = [...(op.scope ? ["insufficient_scope"] : []), ...(rails ? ["ip_not_allowed"] : [])];
    return {
      "401": ["missing_credentials", "invalid_credentials", "revoked_api_key", "expired_credentials"],
      ...(forbidden.length > 0 ? { "403": forbidden } : {}),
      "429": [...(rails ? ["rate_limited"] : []), "too_many_requests"],
    };
  },
  none: () => ({}),
  github_signature: () => ({ "401": ["invalid_signature"] }),
};
/** A body is validated, size-checked and must be JSON. */
const BODY_PROBLEMS = { "400": ["invalid_request"], "413": ["payload_too_large"] };
/**
 * What any operation may answer from our side: 503 when storage (or the
 * deploy's configuration: every route, /health too) fails it, 500 when
 * anything unexpected does (the error handler's last resort, on every route).
 */
const SERVER_PROBLEMS = { "503": ["unavailable"], "500": ["internal_error"] };

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

/** A schema with an example of its own, or whose every field (or item) has one. */
function hasExample(doc: Json, schema: Json | undefined): boolean {
  const s = resolve(doc, schema);
  if (s.example !== undefined || s.examples !== undefined) return true;
  const parts: Json[] | undefined = s.allOf ?? s.anyOf ?? s.oneOf;
  if (parts) return parts.every((p) => p.type === "null" || hasExample(doc, p));
  if (s.properties) return Object.values<Json>(s.properties).every((p) => hasExample(doc, p));
  if (s.items) return hasExample(doc, s.items);
  return false;
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

  it("documents every listed operation, and on each path exactly the listed methods", async () => {
    const doc = await openapi();
    for (const op of OPERATIONS) {
      expect(doc.paths[op.path]?.[op.method], label(op)).toBeDefined();
      const documented = Object.keys(doc.paths[op.path]).filter((k) => HTTP_METHODS.includes(k));
      const listed = OPERATIONS.filter((o) => o.path === op.path).map((o) => o.method);
      expect(documented.sort(), op.path).toEqual([...listed].sort());
    }
    // And nothing else: test/routes/route-list.test.ts holds the document to the list the other way round.
    expect(Object.keys(doc.paths).sort()).toEqual([...new Set(OPERATIONS.map((op) => op.path))].sort());
  });

  it("documents no route that un-revokes a key", async () => {
    const doc = await openapi();
    // No operation anywhere reactivates, restores or un-revokes something.
    for (const path of Object.keys(doc.paths)) expect(path).not.toMatch(/un-?revoke|reactivat|restore|activate/i);
    for (const op of OPERATIONS) expect(`${op.operationId} ${op.route.summary ?? ""}`).not.toMatch(/un-?revoke|reactivat|restore/i);
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

  it("marks each listed operation with the security scheme of its auth kind (none for /health and secret scanning)", async () => {
    const doc = await openapi();
    for (const op of OPERATIONS) {
      const entry = doc.paths[op.path][op.method];
      const names = (entry.security ?? doc.security ?? []).flatMap((s: Json) => Object.keys(s));
      const scheme = SCHEME[op.auth];
      if (scheme === null) expect(names, label(op)).toEqual([]);
      else expect(names, label(op)).toEqual([scheme]);
    }
  });

  it("states the success status of every listed operation, and documents it", async () => {
    const doc = await openapi();
    expect(Object.keys(SUCCESS).sort(), "SUCCESS names every listed operation, and only those").toEqual(
      OPERATIONS.map((op) => op.operationId).sort(),
    );
    for (const op of OPERATIONS) {
      const statuses = Object.keys(doc.paths[op.path][op.method].responses ?? {});
      expect(statuses, label(op)).toContain(SUCCESS[op.operationId]);
      expect(
        statuses.filter((s) => s.startsWith("2")),
        `${label(op)}: one success status`,
      ).toEqual([SUCCESS[op.operationId]]);
    }
  });

  it("documents, on every listed operation, each problem its auth kind, its body and our side (500, 503) can give, each with its example", async () => {
    const doc = await openapi();
    for (const op of OPERATIONS) {
      const entry = doc.paths[op.path][op.method];
      const bearer = op.auth === "admin" || op.auth === "key";
      const expected: Record<string, string[]>[] = [AUTH_PROBLEMS[op.auth](op), SERVER_PROBLEMS];
      if (entry.requestBody) expected.push(BODY_PROBLEMS, bearer ? { "415": ["unsupported_media_type"] } : {});
      for (const problems of expected) {
        for (const [status, codes] of Object.entries(problems)) {
          const response = entry.responses?.[status];
          expect(response, `${label(op)} ${status}`).toBeDefined();
          const content = response.content?.["application/problem+json"];
          expect(content?.schema?.$ref, `${label(op)} ${status} is a Problem`).toBe("#/components/schemas/Problem");
          for (const code of codes) {
            const example = content.examples?.[code]?.value;
            expect(example, `${label(op)} ${status} has an example of ${code}`).toMatchObject({ status: Number(status), code });
          }
        }
      }
    }
  });

  it("gives every listed operation examples: each parameter, the request body, and every response with a body", async () => {
    const doc = await openapi();
    for (const op of OPERATIONS) {
      const entry = doc.paths[op.path][op.method];
      for (const p of (entry.parameters ?? []) as Json[]) {
        expect(p.example ?? p.schema?.example, `${label(op)} parameter ${p.name}`).toBeDefined();
      }
      const body = entry.requestBody?.content?.["application/json"];
      if (body) expect(body.example !== undefined || hasExample(doc, body.schema), `${label(op)} request body`).toBe(true);
      for (const [status, response] of Object.entries<Json>(entry.responses ?? {})) {
        for (const [type, content] of Object.entries<Json>(response.content ?? {})) {
          const example = content.example !== undefined || content.examples !== undefined || hasExample(doc, content.schema);
          expect(example, `${label(op)} ${status} ${type}`).toBe(true);
        }
      }
    }
  });

  it("has a request body schema for POST /v1/api-keys: name, scopes, expiresAt, ipAllowlist, rateLimit", async () => {
    const doc = await openapi();
    const schema = requestBodySchema(doc, "/v1/api-keys", "post");
    expect(schema.type).toBe("object");
    expect(Object.keys(schema.properties).sort()).toEqual(["expiresAt", "ipAllowlist", "name", "rateLimit", "scopes"]);
    expect([...(schema.required ?? [])].sort()).toEqual(["name", "scopes"]);
    // Any other field is refused, and the document says so.
    expect(schema.additionalProperties).toBe(false);
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
    for (const op of OPERATIONS) {
      if (!op.path.includes("{id}")) continue;
      const id = (doc.paths[op.path][op.method].parameters ?? []).find((p: Json) => p.name === "id");
      expect(id, label(op)).toMatchObject({ in: "path", required: true });
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

  it("shows a new key as it is created: never used (lastUsedAt, lastUsedIp, lastUsedCountry null), with its secret", async () => {
    const doc = await openapi();
    for (const [path, method] of [
      ["/v1/api-keys", "post"],
      ["/v1/api-keys/{id}/roll", "post"],
    ] as const) {
      const content = doc.paths[path][method].responses["201"].content["application/json"];
      const example = (content.example ?? exampleOf(doc, content.schema)) as Json;
      expect(example, `${method} ${path}`).toMatchObject({ lastUsedAt: null, lastUsedIp: null, lastUsedCountry: null, revokedAt: null });
      expect(example.key, `${method} ${path}`).toMatch(/^sk_live_/);
    }
    // As the service answers.
    const created = await (
      await call("POST", "/v1/api-keys", { token: await session(freshWs()), body: { name: "new", scopes: ["sources:read"] } })
    ).json();
    expect(created).toMatchObject({ lastUsedAt: null, lastUsedIp: null, lastUsedCountry: null });
  });

  it("types an audit event's details per action: one schema per action, told apart by action", async () => {
    const doc = await openapi();
    const event = doc.components.schemas.AuditEvent;
    expect(event.discriminator?.propertyName).toBe("action");
    expect(Object.keys(event.discriminator.mapping).sort()).toEqual([...AUDIT_ACTIONS].sort());
    expect(event.oneOf).toHaveLength(AUDIT_ACTIONS.length);
    for (const [action, ref] of Object.entries<string>(event.discriminator.mapping)) {
      const variant = resolve(doc, { $ref: ref });
      expect(variant.properties.action.enum, action).toEqual([action]);
      const details = resolve(doc, variant.properties.details);
      // Not "any object": each action says what its details hold (or that there are none).
      expect(details.additionalProperties, action).toBeUndefined();
      expect(details.type === "null" || Object.keys(details.properties ?? {}).length > 0, action).toBe(true);
      expect(variant.required, action).toEqual(expect.arrayContaining(["action", "details"]));
    }
    const revoked = resolve(doc, { $ref: event.discriminator.mapping["api_key.revoked"] }).properties.details;
    expect(Object.keys(revoked.properties).sort()).toEqual(["idleRevokeDays", "idleSince", "reason", "url"]);
    expect(resolve(doc, { $ref: event.discriminator.mapping["api_key.rolled"] }).properties.details.required.sort()).toEqual([
      "newKeyId",
      "overlapSeconds",
    ]);
  });

  it("documents errors as application/problem+json with type, title, status, detail, code", async () => {
    const doc = await openapi();
    for (const op of OPERATIONS) {
      for (const [status, response] of Object.entries<Json>(doc.paths[op.path][op.method].responses ?? {})) {
        if (Number(status) < 400) continue;
        const schema = response.content?.["application/problem+json"]?.schema;
        expect(schema, `${label(op)} ${status} problem+json`).toBeDefined();
        for (const field of ["type", "title", "status", "detail", "code"]) expect(propertyNames(doc, schema)).toContain(field);
      }
    }
  });

  it("every problem carries its requestId: the Problem schema requires it, and every documented example has it", async () => {
    const doc = await openapi();
    const problem = doc.components.schemas.Problem;
    expect(problem.required).toEqual(expect.arrayContaining(["type", "title", "status", "detail", "code", "requestId"]));
    for (const op of OPERATIONS) {
      for (const [status, response] of Object.entries<Json>(doc.paths[op.path][op.method].responses ?? {})) {
        for (const [code, example] of Object.entries<Json>(response.content?.["application/problem+json"]?.examples ?? {})) {
          expect(example.value.requestId, `${label(op)} ${status} ${code}`).toEqual(expect.any(String));
        }
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

/** The /docs section of one operation. */
const sectionOf = (html: string, operationId: string) => html.split(`data-operation="${operationId}"`)[1]?.split("</section>")[0] ?? "";
const unescapeHtml = (text: string) =>
  text.replace(/&(amp|lt|gt|quot|#39);/g, (_, e: string) => ({ amp: "&", lt: "<", gt: ">", quot: '"', "#39": "'" })[e]!);

/** The bounds of a field as /docs shows them: lengths, ranges, item counts (each item's too), default. */
function boundsOf(doc: Json, schema: Json): string[] {
  const s = resolve(doc, schema);
  const own = (x: Json) => {
    const parts: string[] = [];
    if (x.minLength !== undefined || x.maxLength !== undefined) parts.push(`length ${x.minLength ?? 0}–${x.maxLength ?? "∞"}`);
    if (x.minimum !== undefined || x.maximum !== undefined) parts.push(`${x.minimum ?? "−∞"}–${x.maximum ?? "∞"}`);
    if (x.minItems !== undefined && x.maxItems !== undefined) parts.push(`${x.minItems}–${x.maxItems} items`);
    else if (x.minItems !== undefined) parts.push(`at least ${x.minItems}`);
    else if (x.maxItems !== undefined) parts.push(`at most ${x.maxItems} items`);
    if (x.default !== undefined) parts.push(`default ${JSON.stringify(x.default)}`);
    return parts;
  };
  const items = s.items ? resolve(doc, s.items) : undefined;
  return [...own(s), ...(items && !items.properties ? own(items).map((b) => `each ${b}`) : [])];
}

/** Every field of a body, by its dotted path (`rateLimit.limit`), through unions, nullable objects and a top-level list. */
function boundedFields(doc: Json, schema: Json, prefix: string, depth = 0): [string, Json][] {
  const s = resolve(doc, schema);
  if (depth > 4) return [];
  if (s.type === "array" && prefix === "") return [["", s], ...boundedFields(doc, s.items, "", depth + 1)];
  const variants: Json[] = (s.oneOf ?? s.anyOf ?? []).filter((v: Json) => v.type !== "null");
  if (!s.properties) return variants.flatMap((v) => boundedFields(doc, v, prefix, depth + 1));
  return Object.entries<Json>(s.properties).flatMap(([name, p]): [string, Json][] => {
    const nested = p.$ref ? [] : boundedFields(doc, p, `${prefix}${name}.`, depth + 1).filter(([path]) => path !== `${prefix}${name}.`);
    return [[`${prefix}${name}`, p], ...(resolve(doc, p).properties || p.anyOf || p.oneOf ? nested : [])];
  });
}

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

  it("mentions every listed operation: its method and path, in its own section", async () => {
    const html = await page();
    for (const op of OPERATIONS) {
      expect(html, label(op)).toContain(`id="${op.operationId}"`);
      expect(html, label(op)).toMatch(new RegExp(`${op.method.toUpperCase()}[^<]*(<[^>]*>[^<]*){0,4}${op.path.replace(/[{}]/g, "\\$&")}`));
    }
  });

  it("mentions both authentication schemes and the scopes", async () => {
    const html = await page();
    expect(html).toContain("sessionToken");
    expect(html).toContain("apiKey");
    for (const scope of ["sources:read", "sources:write", "sources:delete"]) expect(html).toContain(scope);
  });

  it("shows each status's own examples: every named example of every listed operation, under its status", async () => {
    const [html, doc] = [await page(), await openapi()];
    let shown = 0;
    for (const op of OPERATIONS) {
      const section = sectionOf(html, op.operationId);
      for (const [status, response] of Object.entries<Json>(doc.paths[op.path][op.method].responses ?? {})) {
        for (const content of Object.values<Json>(response.content ?? {})) {
          for (const [name, example] of Object.entries<Json>(content.examples ?? {})) {
            const block = new RegExp(
              `<details[^>]* data-status="${status}" data-example="${name}"><summary>.*?</summary><pre><code>([^<]*)</code></pre>`,
            );
            const rendered = block.exec(section)?.[1];
            expect(rendered, `${label(op)} ${status} ${name}`).toBeDefined();
            expect(JSON.parse(unescapeHtml(rendered!)), `${label(op)} ${status} ${name}`).toEqual(example.value);
            shown++;
          }
        }
      }
    }
    // Every problem of every operation has its example (a few per status): far more than one per route.
    expect(shown).toBeGreaterThan(OPERATIONS.length * 5);
  });

  it("a problem's type URI resolves: this service's /docs, at the row that explains the problem's code", async () => {
    const html = await page();
    const admin = await session(freshWs());
    // Real problems, of several kinds and from both apps (GET /v1/key is the edge app's).
    const answers = [
      await call("GET", "/v1/key"),
      await call("GET", "/v1/key", { token: "sk_live_nope" }),
      await call("GET", "/v1/api-keys/key_missing", { token: admin }),
      await call("POST", "/v1/api-keys", { token: admin, body: { name: "" } }),
      await call("DELETE", "/health"),
      await call("GET", "/v1/nowhere"),
    ];
    const codes = new Set<string>();
    for (const res of answers) {
      const body = (await res.json()) as { type: string; code: string };
      const type = new URL(body.type);
      // The origin the request went to, the page the service serves, the row of this code on it.
      expect(type.origin, body.type).toBe(BASE);
      const served = await call("GET", type.pathname);
      expect(served.status, body.type).toBe(200);
      expect(served.headers.get("Content-Type")).toMatch(/^text\/html/);
      const row = new RegExp(`<tr id="${type.hash.slice(1)}"><td><code>${body.code}</code></td>`);
      expect((await served.text()).match(row), body.type).not.toBeNull();
      codes.add(body.code);
    }
    expect([...codes].sort()).toEqual(["invalid_credentials", "invalid_request", "method_not_allowed", "missing_credentials", "not_found"]);
    // And every code the service can answer has its row, where its type points.
    const doc = await openapi();
    for (const code of doc.components.schemas.Problem.properties.code.enum as string[]) {
      expect(html, code).toMatch(new RegExp(`<tr id="${new URL(`${BASE}/docs#error-${code}`).hash.slice(1)}"><td><code>${code}</code>`));
    }
  });

  it("shows every bound of every parameter and body field of every listed operation (nested fields too), where it applies", async () => {
    const [html, doc] = [await page(), await openapi()];
    let checked = 0;
    for (const op of OPERATIONS) {
      const section = sectionOf(html, op.operationId);
      const entry = doc.paths[op.path][op.method];
      const fields: [string, Json][] = ((entry.parameters ?? []) as Json[]).map((p) => [p.name, p.schema ?? {}]);
      const body = entry.requestBody?.content?.["application/json"]?.schema;
      if (body) fields.push(...boundedFields(doc, body, ""));
      for (const [path, schema] of fields) {
        const expected = boundsOf(doc, schema);
        if (expected.length === 0) continue;
        // The row of that field (a union body has one per variant): one of them shows every bound.
        const rows = [...section.matchAll(new RegExp(`<tr><td><code>${path.replace(/[.$]/g, "\\$&")}</code>.*?</tr>`, "g"))].map(
          (m) => m[0],
        );
        const shown = path === "" ? [section] : rows;
        expect(shown.length, `${label(op)} ${path || "body"}: a row`).toBeGreaterThan(0);
        const texts = shown.map((r) => unescapeHtml([...r.matchAll(/<small class="c">([^<]*)<\/small>/g)].map((m) => m[1]).join("; ")));
        expect(
          texts.some((t) => expected.every((b) => t.includes(b))),
          `${label(op)} ${path || "body"}: ${expected.join("; ")} in ${JSON.stringify(texts)}`,
        ).toBe(true);
        checked++;
      }
    }
    // limit, days, overlapSeconds, name, rateLimit.limit and .periodSeconds, ipAllowlist, the report's size…
    expect(checked).toBeGreaterThan(20);
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
