import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  call,
  createKey,
  createSource,
  expectInvalid,
  expectNotFound,
  freezeClock,
  freshWs,
  problem,
  session,
  walkPages,
} from "../../support/helpers";

const ALL = ["sources:read", "sources:write", "sources:delete"];

// Storage is shared by every test in this file, so each test works in its own
// workspace (freshWs): counts and orders are then exactly what that test created.

async function keyIn(ws: string, scopes = ALL): Promise<string> {
  return (await createKey(await session(ws), { name: "sources test", scopes })).key;
}

interface Source {
  id: string;
  name: string;
  type: "url" | "text";
  url: string | null;
  content: string | null;
  createdAt: string;
  updatedAt: string;
}
interface SourceList {
  data: Source[];
  nextCursor: string | null;
}

const urlSource = (key: string, name = "Help center", url = "https://help.example.com") =>
  createSource<Source>(key, { type: "url", name, url });
const textSource = (key: string, name = "Refunds", content = "Refunds take 5 days.") =>
  createSource<Source>(key, { type: "text", name, content });

async function get(key: string, id: string) {
  return call("GET", `/v1/sources/${id}`, { token: key });
}

async function list(key: string, query = ""): Promise<SourceList> {
  const res = await call("GET", `/v1/sources${query}`, { token: key });
  expect(res.status, await res.clone().text()).toBe(200);
  return res.json();
}

/** Every page of the source list, `limit` at a time, expecting at most `atMost` sources. */
const listAll = (key: string, limit: number, atMost: number, between?: (pagesSoFar: number) => Promise<void>) =>
  walkPages<Source>(key, "/v1/sources", { limit, atMost, between });

const isIso = (s: unknown) => typeof s === "string" && new Date(s).toISOString() === s;

function expectSourceShape(s: Source) {
  expect(Object.keys(s).sort()).toEqual(["content", "createdAt", "id", "name", "type", "updatedAt", "url"]);
  expect(s.id).toMatch(/^src_[0-9A-Za-z]+$/);
  expect(isIso(s.createdAt)).toBe(true);
  expect(isIso(s.updatedAt)).toBe(true);
}

const MAX = 100_000;

describe("POST /v1/sources", () => {
  it("creates a url source: 201 with every field, url set and content null", async () => {
    const key = await keyIn(freshWs());
    const before = Date.now();
    const res = await call("POST", "/v1/sources", {
      token: key,
      body: { type: "url", name: "Help center", url: "https://help.example.com/docs?lang=en" },
    });
    const after = Date.now();
    expect(res.status).toBe(201);
    expect(res.headers.get("Content-Type")).toMatch(/^application\/json/);
    const s: Source = await res.json();
    expectSourceShape(s);
    expect(s).toMatchObject({ name: "Help center", type: "url", url: "https://help.example.com/docs?lang=en", content: null });
    expect(s.updatedAt).toBe(s.createdAt);
    const t = Date.parse(s.createdAt);
    expect(t).toBeGreaterThanOrEqual(before - 1000);
    expect(t).toBeLessThanOrEqual(after + 1000);
  });

  it("creates a text source: 201, content set and url null", async () => {
    const key = await keyIn(freshWs());
    const res = await call("POST", "/v1/sources", { token: key, body: { type: "text", name: "Refunds", content: "Refunds take 5 days." } });
    expect(res.status).toBe(201);
    const s: Source = await res.json();
    expectSourceShape(s);
    expect(s).toMatchObject({ name: "Refunds", type: "text", url: null, content: "Refunds take 5 days." });
    expect(s.updatedAt).toBe(s.createdAt);
  });

  it("persists what it returns: GET gives back the same source", async () => {
    const key = await keyIn(freshWs());
    for (const created of [await urlSource(key), await textSource(key)]) {
      const res = await get(key, created.id);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual(created);
    }
  });

  it("gives every source its own id", async () => {
    const key = await keyIn(freshWs());
    const ids = new Set<string>();
    for (let i = 0; i < 10; i++) ids.add((await textSource(key, `s${i}`)).id);
    expect(ids.size).toBe(10);
  });

  it("ignores the other type's field: a url source never keeps content, a text source never keeps url", async () => {
    const key = await keyIn(freshWs());
    const u = await createSource<Source>(key, { type: "url", name: "u", url: "https://a.example.com", content: "stray" });
    expect(u.content).toBeNull();
    const t = await createSource<Source>(key, { type: "text", name: "t", content: "body", url: "https://a.example.com" });
    expect(t.url).toBeNull();
  });

  it("trims the name and accepts 1 and 200 characters after trimming", async () => {
    const key = await keyIn(freshWs());
    expect((await textSource(key, "  Help  ")).name).toBe("Help");
    expect((await textSource(key, "x")).name).toBe("x");
    const n200 = "n".repeat(200);
    expect((await textSource(key, n200)).name).toBe(n200);
    // 200 characters plus surrounding spaces: valid once trimmed.
    expect((await textSource(key, `   ${n200}   `)).name).toBe(n200);
  });

  it("accepts http and https URLs with ports, paths, queries and fragments", async () => {
    const key = await keyIn(freshWs());
    for (const url of [
      "http://example.com",
      "https://example.com/",
      "https://docs.example.co.uk:8443/a/b/c.html?x=1&y=two#part",
      "http://sub.domain.example.org/path",
    ]) {
      const s = await urlSource(key, "u", url);
      expect(s.type).toBe("url");
      expect(s.url).toBe(url);
    }
  });

  it(`accepts text content of exactly ${MAX} characters and returns it whole`, async () => {
    const key = await keyIn(freshWs());
    const content = `${"a".repeat(MAX - 1)}Z`;
    const s = await textSource(key, "big", content);
    expect(s.content).toBe(content);
    const again: Source = await (await get(key, s.id)).json();
    expect(again.content!.length).toBe(MAX);
    expect(again.content).toBe(content);
  });

  it(`accepts ${MAX} non-ASCII characters (characters, not bytes, are counted)`, async () => {
    const key = await keyIn(freshWs());
    const content = "é".repeat(MAX); // 200 000 bytes of UTF-8
    const s = await textSource(key, "accents", content);
    expect(s.content).toBe(content);
  });

  const tooLong = "a".repeat(MAX + 1);
  const invalid: [string, unknown, string][] = [
    ["missing name", { type: "text", content: "x" }, "name"],
    ["empty name", { type: "text", name: "", content: "x" }, "name"],
    ["blank name (empty after trim)", { type: "text", name: "   \t ", content: "x" }, "name"],
    ["name of 201 characters", { type: "text", name: "n".repeat(201), content: "x" }, "name"],
    ["name of 201 characters after trim", { type: "url", name: ` ${"n".repeat(201)} `, url: "https://a.example.com" }, "name"],
    ["name not a string", { type: "text", name: 42, content: "x" }, "name"],
    ["missing type", { name: "x", url: "https://a.example.com" }, "type"],
    ["unknown type", { type: "pdf", name: "x", url: "https://a.example.com" }, "type"],
    ["type not a string", { type: 1, name: "x", content: "x" }, "type"],
    ["url type without url", { type: "url", name: "x" }, "url"],
    ["url type with null url", { type: "url", name: "x", url: null }, "url"],
    ["url type with only content", { type: "url", name: "x", content: "https://a.example.com" }, "url"],
    ["ftp url", { type: "url", name: "x", url: "ftp://files.example.com/a" }, "url"],
    ["javascript url", { type: "url", name: "x", url: "javascript:alert(1)" }, "url"],
    ["file url", { type: "url", name: "x", url: "file:///etc/passwd" }, "url"],
    ["mailto url", { type: "url", name: "x", url: "mailto:a@example.com" }, "url"],
    ["not a url", { type: "url", name: "x", url: "help center" }, "url"],
    ["scheme only", { type: "url", name: "x", url: "https://" }, "url"],
    ["url not a string", { type: "url", name: "x", url: 123 }, "url"],
    ["text type without content", { type: "text", name: "x" }, "content"],
    ["text type with null content", { type: "text", name: "x", content: null }, "content"],
    ["text type with only url", { type: "text", name: "x", url: "https://a.example.com" }, "content"],
    [`content of ${MAX + 1} characters`, { type: "text", name: "x", content: tooLong }, "content"],
    ["content not a string", { type: "text", name: "x", content: ["a"] }, "content"],
  ];

  it.each(invalid)("refuses %s: 400 invalid_request naming the field, and stores nothing", async (_label, body, field) => {
    const key = await keyIn(freshWs());
    await expectInvalid(await call("POST", "/v1/sources", { token: key, body }), field);
    expect((await list(key)).data).toEqual([]);
  });

  it("refuses a body that is not an object", async () => {
    const key = await keyIn(freshWs());
    for (const body of ["[]", "null", '"text"', "42"]) {
      const res = await call("POST", "/v1/sources", { token: key, body });
      expect(res.status, body).toBe(400);
      expect((await problem(res)).code).toBe("invalid_request");
    }
    expect((await list(key)).data).toEqual([]);
  });

  it("names every bad field at once", async () => {
    const key = await keyIn(freshWs());
    const res = await call("POST", "/v1/sources", { token: key, body: { type: "url", name: "", url: "ftp://x.example.com" } });
    expect(res.status).toBe(400);
    const paths = (await problem(res)).errors!.map((e) => e.path);
    expect(paths).toContain("name");
    expect(paths).toContain("url");
  });
});

describe("GET /v1/sources/{id}", () => {
  it("returns the source", async () => {
    const key = await keyIn(freshWs());
    const s = await urlSource(key);
    const res = await get(key, s.id);
    expect(res.status).toBe(200);
    const body: Source = await res.json();
    expectSourceShape(body);
    expect(body).toEqual(s);
  });

  it("answers 404 not_found for an unknown id", async () => {
    const key = await keyIn(freshWs());
    await urlSource(key);
    await expectNotFound(await get(key, "src_doesNotExist0000000000"));
    await expectNotFound(await get(key, "nonsense"));
    await expectNotFound(await get(key, "key_3kTMd9bF0aR2xQe7LpWz1Yc5"));
  });
});

describe("PATCH /v1/sources/{id}", () => {
  const patch = (key: string, id: string, body: unknown) => call("PATCH", `/v1/sources/${id}`, { token: key, body });

  it("changes only the fields sent, keeps id and createdAt, and moves updatedAt forward", async () => {
    const clock = freezeClock();
    const key = await keyIn(freshWs());
    const s = await urlSource(key, "Old name", "https://old.example.com");
    clock.advance(1_000);
    const res = await patch(key, s.id, { name: "  New name  " });
    expect(res.status).toBe(200);
    const u: Source = await res.json();
    expectSourceShape(u);
    expect(u).toMatchObject({
      id: s.id,
      name: "New name",
      type: "url",
      url: "https://old.example.com",
      content: null,
      createdAt: s.createdAt,
    });
    expect(Date.parse(u.updatedAt)).toBeGreaterThan(Date.parse(s.updatedAt));
    expect(await (await get(key, s.id)).json()).toEqual(u);

    clock.advance(1_000);
    const res2 = await patch(key, s.id, { url: "http://new.example.com/x" });
    expect(res2.status).toBe(200);
    const u2: Source = await res2.json();
    expect(u2).toMatchObject({ id: s.id, name: "New name", url: "http://new.example.com/x", createdAt: s.createdAt });
    expect(Date.parse(u2.updatedAt)).toBeGreaterThan(Date.parse(u.updatedAt));
  });

  it("updates the content of a text source, up to the limit", async () => {
    const key = await keyIn(freshWs());
    const s = await textSource(key, "T", "first");
    const res = await patch(key, s.id, { content: "b".repeat(MAX) });
    expect(res.status).toBe(200);
    const u: Source = await res.json();
    expect(u).toMatchObject({ name: "T", type: "text", url: null });
    expect(u.content).toBe("b".repeat(MAX));
  });

  it("switches a url source to text when content comes with it (url becomes null)", async () => {
    const key = await keyIn(freshWs());
    const s = await urlSource(key);
    const res = await patch(key, s.id, { type: "text", content: "now text" });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id: s.id, type: "text", content: "now text", url: null });
  });

  it("switches a text source to url when url comes with it (content becomes null)", async () => {
    const key = await keyIn(freshWs());
    const s = await textSource(key);
    const res = await patch(key, s.id, { type: "url", url: "https://now.example.com" });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id: s.id, type: "url", url: "https://now.example.com", content: null });
  });

  const invalidPatches: [string, "url" | "text", unknown, string][] = [
    ["blank name", "url", { name: "   " }, "name"],
    ["name of 201 characters", "url", { name: "n".repeat(201) }, "name"],
    ["unknown type", "url", { type: "pdf" }, "type"],
    ["non-http url", "url", { url: "ftp://files.example.com" }, "url"],
    ["not a url", "url", { url: "nope" }, "url"],
    ["url to text without content", "url", { type: "text" }, "content"],
    ["text to url without url", "text", { type: "url" }, "url"],
    [`content of ${MAX + 1} characters`, "text", { content: "c".repeat(MAX + 1) }, "content"],
  ];

  it.each(invalidPatches)("refuses %s with 400 naming the field and leaves the source unchanged", async (_label, type, body, field) => {
    const key = await keyIn(freshWs());
    const s = type === "url" ? await urlSource(key) : await textSource(key);
    await expectInvalid(await patch(key, s.id, body), field);
    expect(await (await get(key, s.id)).json()).toEqual(s);
  });

  it("refuses an empty patch with 400 and changes nothing", async () => {
    const key = await keyIn(freshWs());
    const s = await textSource(key);
    const res = await patch(key, s.id, {});
    expect(res.status).toBe(400);
    expect((await problem(res)).code).toBe("invalid_request");
    expect(await (await get(key, s.id)).json()).toEqual(s);
  });

  it("answers 404 not_found for an unknown id", async () => {
    const key = await keyIn(freshWs());
    await expectNotFound(await patch(key, "src_doesNotExist0000000000", { name: "x" }));
    expect((await list(key)).data).toEqual([]);
  });
});

describe("DELETE /v1/sources/{id}", () => {
  it("deletes: 204 with no body, then GET, PATCH and DELETE answer 404; other sources stay", async () => {
    const key = await keyIn(freshWs());
    const keep = await textSource(key, "keep");
    const s = await urlSource(key, "doomed");
    const res = await call("DELETE", `/v1/sources/${s.id}`, { token: key });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe("");

    await expectNotFound(await get(key, s.id));
    await expectNotFound(await call("PATCH", `/v1/sources/${s.id}`, { token: key, body: { name: "back" } }));
    await expectNotFound(await call("DELETE", `/v1/sources/${s.id}`, { token: key }));
    expect((await list(key)).data.map((x) => x.id)).toEqual([keep.id]);
    expect(await (await get(key, keep.id)).json()).toEqual(keep);
  });

  it("answers 404 not_found for an unknown id", async () => {
    const key = await keyIn(freshWs());
    await expectNotFound(await call("DELETE", "/v1/sources/src_doesNotExist0000000000", { token: key }));
  });
});

describe("GET /v1/sources", () => {
  it("is an empty page for a workspace without sources", async () => {
    const key = await keyIn(freshWs());
    expect(await list(key)).toEqual({ data: [], nextCursor: null });
  });

  it("lists newest first with full source records", async () => {
    const clock = freezeClock();
    const key = await keyIn(freshWs());
    const created: Source[] = [];
    for (let i = 0; i < 5; i++) {
      created.push(i % 2 ? await textSource(key, `s${i}`) : await urlSource(key, `s${i}`));
      clock.advance(1_000); // distinct creation times, so "newest" is unambiguous
    }
    const page = await list(key);
    expect(page.nextCursor).toBeNull();
    expect(page.data).toEqual([...created].reverse());
  });

  it("pages by 50 by default", async () => {
    const key = await keyIn(freshWs());
    const ids: string[] = [];
    for (let i = 0; i < 51; i++) ids.push((await textSource(key, `s${i}`)).id);
    const first = await list(key);
    expect(first.data).toHaveLength(50);
    expect(first.nextCursor).not.toBeNull();
    const second = await list(key, `?cursor=${encodeURIComponent(first.nextCursor!)}`);
    expect(second.data).toHaveLength(1);
    expect(second.nextCursor).toBeNull();
    expect(new Set([...first.data, ...second.data].map((s) => s.id))).toEqual(new Set(ids));
  });

  it("accepts limit 1 and 100", async () => {
    const key = await keyIn(freshWs());
    for (let i = 0; i < 3; i++) await textSource(key, `s${i}`);
    const one = await list(key, "?limit=1");
    expect(one.data).toHaveLength(1);
    expect(one.nextCursor).not.toBeNull();
    const hundred = await list(key, "?limit=100");
    expect(hundred.data).toHaveLength(3);
    expect(hundred.nextCursor).toBeNull();
  });

  it.each(["0", "101", "-1", "abc", "1.5", "", "1e3"])("refuses limit=%j with 400 naming limit", async (limit) => {
    const key = await keyIn(freshWs());
    await expectInvalid(await call("GET", `/v1/sources?limit=${limit}`, { token: key }), "limit");
  });

  it("walks every source exactly once, in list order, with a null cursor on the last page", async () => {
    const key = await keyIn(freshWs());
    for (let i = 0; i < 7; i++) await textSource(key, `s${i}`);
    const all = (await list(key, "?limit=100")).data;
    expect(all).toHaveLength(7);
    const pages = await listAll(key, 2, 7);
    expect(pages.map((p) => p.length)).toEqual([2, 2, 2, 1]);
    expect(pages.flat()).toEqual(all);
  });

  it("ends with a null cursor when the last page is exactly full", async () => {
    const key = await keyIn(freshWs());
    for (let i = 0; i < 4; i++) await textSource(key, `s${i}`);
    const pages = await listAll(key, 2, 4);
    expect(pages.map((p) => p.length)).toEqual([2, 2]);
  });

  it("never skips or repeats when sources are created between page fetches", async () => {
    const key = await keyIn(freshWs());
    for (let i = 0; i < 10; i++) await textSource(key, `old${i}`);
    const original = (await list(key, "?limit=100")).data;
    const added: string[] = [];
    const pages = await listAll(key, 3, original.length, async (n) => {
      added.push((await textSource(key, `new${n}a`)).id);
      added.push((await urlSource(key, `new${n}b`)).id);
    });
    const seen = pages.flat().map((s) => s.id);
    expect(new Set(seen).size).toBe(seen.length); // no repeats
    // Every original source, in the original order; nothing created later sneaks into later pages.
    expect(seen).toEqual(original.map((s) => s.id));
    expect(added.length).toBeGreaterThan(0);
    // The new ones are there for a fresh listing, newest first.
    const fresh = (await list(key, "?limit=100")).data.map((s) => s.id);
    expect(fresh).toHaveLength(10 + added.length);
    expect(fresh.slice(added.length)).toEqual(original.map((s) => s.id));
    expect(new Set(fresh.slice(0, added.length))).toEqual(new Set(added));
  });

  it("never skips when the last source of a page is deleted before the next fetch", async () => {
    const key = await keyIn(freshWs());
    for (let i = 0; i < 6; i++) await textSource(key, `s${i}`);
    const original = (await list(key, "?limit=100")).data.map((s) => s.id);
    const first = await list(key, "?limit=3");
    const lastOfPage = first.data[2]!.id;
    expect((await call("DELETE", `/v1/sources/${lastOfPage}`, { token: key })).status).toBe(204);
    const rest = await list(key, `?limit=3&cursor=${encodeURIComponent(first.nextCursor!)}`);
    expect(rest.data.map((s) => s.id)).toEqual(original.slice(3));
    expect(rest.nextCursor).toBeNull();
  });

  it("pages correctly through sources created in the same millisecond", async () => {
    const ws = freshWs();
    const key = await keyIn(ws);
    const t = Date.now() - 60_000;
    const ids = Array.from({ length: 7 }, (_, i) => `src_sameMs${i}${crypto.randomUUID().replaceAll("-", "").slice(0, 14)}`);
    await env.DB.batch(
      ids.map((id) =>
        env.DB.prepare(
          "INSERT INTO sources (id, workspace_id, name, type, url, content, created_at, updated_at) VALUES (?, ?, ?, 'text', NULL, 'c', ?, ?)",
        ).bind(id, ws, id, t, t),
      ),
    );
    const newer = await textSource(key, "newer");
    const pages = await listAll(key, 2, ids.length + 1);
    const seen = pages.flat().map((s) => s.id);
    expect(seen[0]).toBe(newer.id);
    expect(seen).toHaveLength(8);
    expect(new Set(seen)).toEqual(new Set([newer.id, ...ids]));
  });

  it.each([
    ["garbage", "not-a-cursor!!"],
    ["base64 of non-JSON", btoa("hello world")],
    ["JSON of the wrong shape", btoa(JSON.stringify({ foo: 1 }))],
    ["negative time", btoa(JSON.stringify({ t: -5, id: "src_x" }))],
    ["empty id", btoa(JSON.stringify({ t: 5, id: "" }))],
    ["much too long", "a".repeat(500)],
  ])("refuses a bad cursor (%s) with 400 naming cursor", async (_label, cursor) => {
    const key = await keyIn(freshWs());
    await textSource(key);
    await expectInvalid(await call("GET", `/v1/sources?cursor=${encodeURIComponent(cursor)}`, { token: key }), "cursor");
  });
});
