import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { Env } from "../../../src/env";
import { generateKey } from "../../../src/keys/format/key";
import { counted, fetchWith, unreachableD1 } from "../../support/bindings";
import { type GithubSigner, githubSigner, publicKeysDocument, toHex } from "../../support/github-signing";
import { type AuditEvent, call, createKey, freshWs, type KeyRecord, problem, session } from "../../support/helpers";
import { freshIsolate } from "../../support/isolate";

/**
 * POST /v1/secret-scanning/github: GitHub reports tokens it found in public;
 * ours are revoked at once. GitHub's signing key is a P-256 pair made here,
 * published to the service through SECRET_SCANNING_PUBLIC_KEYS.
 */

const PATH = "/v1/secret-scanning/github";
const LEAK_URL = "https://github.com/octo/leaky/blob/4f2a/.env";
const GITHUB = { "CF-Connecting-IP": "140.82.115.10", "User-Agent": "GitHub-Secret-Scanning/1.0" };

interface Label {
  token_hash: string;
  token_type: string;
  label: string;
}

let github: GithubSigner;
let keysDocument: string;
let pinned: Partial<Env>;

beforeAll(async () => {
  github = await githubSigner();
  keysDocument = publicKeysDocument(github);
  pinned = { SECRET_SCANNING_PUBLIC_KEYS: keysDocument };
});

afterEach(() => vi.restoreAllMocks());

const entry = (token: string, url = LEAK_URL) => ({ token, type: "owlish_api_key", url, source: "content" });

/** Sends `body` signed by `signer` (GitHub by default); `headers` override the signed ones. */
async function report(
  body: unknown,
  {
    signer = github,
    headers = {},
    overrides = {},
  }: { signer?: GithubSigner; headers?: Record<string, string>; overrides?: Partial<Env> } = {},
) {
  const raw = typeof body === "string" ? body : JSON.stringify(body);
  return fetchWith({ ...pinned, ...overrides }, "POST", PATH, {
    body: raw,
    headers: { "Content-Type": "application/json", ...GITHUB, ...(await signer.sign(raw)), ...headers },
  });
}

async function labels(res: Response): Promise<Label[]> {
  expect(res.status, await res.clone().text()).toBe(200);
  return res.json();
}

const sha256Hex = async (text: string) => toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text))));
const use = (key: string) => call("GET", "/v1/key", { token: key });
const getKey = async (admin: string, id: string): Promise<KeyRecord> => (await call("GET", `/v1/api-keys/${id}`, { token: admin })).json();
const auditOf = async (admin: string, query = ""): Promise<AuditEvent[]> =>
  (await (await call("GET", `/v1/audit-events${query}`, { token: admin })).json<{ data: AuditEvent[] }>()).data;

async function expectRefused(res: Response, code: string) {
  expect(res.status).toBe(401);
  expect((await problem(res)).code).toBe(code);
}

async function expectBadSignature(res: Response) {
  expect(res.status).toBe(401);
  // GitHub authenticates by signature, not by a bearer token: no challenge.
  expect(res.headers.get("WWW-Authenticate")).toBeNull();
  expect((await problem(res)).code).toBe("invalid_signature");
}

describe("a signed report of a leaked key", () => {
  it("revokes the key at once (here, and in a cold isolate) and labels it true_positive", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin);
    expect((await use(k.key)).status).toBe(200); // warm in this isolate

    const res = await report([entry(k.key)]);
    expect(res.headers.get("Content-Type")).toMatch(/^application\/json/);
    expect(await labels(res)).toEqual([{ token_hash: await sha256Hex(k.key), token_type: "owlish_api_key", label: "true_positive" }]);

    await expectRefused(await use(k.key), "revoked_api_key");
    freshIsolate();
    await expectRefused(await use(k.key), "revoked_api_key");
  });

  it("records who and why: revokedBy github_secret_scanning, reason leaked, the URL in the audit event", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin);
    await labels(await report([entry(k.key)]));

    expect(await getKey(admin, k.id)).toMatchObject({ revokedBy: "github_secret_scanning", revocationReason: "leaked" });
    expect((await auditOf(admin, `?keyId=${k.id}`)).filter((e) => e.action === "api_key.revoked")).toEqual([
      expect.objectContaining({
        actorId: "github_secret_scanning",
        keyId: k.id,
        clientIp: "140.82.115.10",
        details: { reason: "leaked", url: LEAK_URL },
      }),
    ]);
    const revoked = await (await call("GET", "/v1/api-keys?status=revoked", { token: admin })).json<{ data: KeyRecord[] }>();
    expect(revoked.data.map((r) => r.id)).toEqual([k.id]);
  });

  it("labels every token in order: ours (active or already revoked) true_positive, anything else false_positive", async () => {
    const admin = await session(freshWs(), "admin", "usr_first");
    const active = await createKey(admin);
    const earlier = await createKey(admin);
    const revokedEarlier = await (await call("POST", `/v1/api-keys/${earlier.id}/revoke`, { token: admin })).json<KeyRecord>();
    const unknown = generateKey(); // well-formed, checksum valid, never stored
    const mistyped = `${active.key.slice(0, -1)}${active.key.endsWith("a") ? "b" : "a"}`; // checksum fails
    const tokens = [unknown, active.key, "sk_live_short", earlier.key, mistyped, "ghp_notoursatall"];

    const res = await labels(await report([...tokens.map((t) => entry(t)), { token: active.key, type: "other_type" }]));
    expect(res).toEqual([
      ...(await Promise.all(
        tokens.map(async (t) => ({
          token_hash: await sha256Hex(t),
          token_type: "owlish_api_key",
          label: t === active.key || t === earlier.key ? "true_positive" : "false_positive",
        })),
      )),
      { token_hash: await sha256Hex(active.key), token_type: "other_type", label: "true_positive" },
    ]);
    // The key revoked before keeps its first revocation; the active one is revoked once though listed twice.
    expect(await getKey(admin, earlier.id)).toMatchObject({
      revokedAt: revokedEarlier.revokedAt,
      revokedBy: "usr_first",
      revocationReason: "admin",
    });
    expect(await getKey(admin, active.id)).toMatchObject({ revocationReason: "leaked" });
    expect((await auditOf(admin, `?keyId=${active.id}`)).filter((e) => e.action === "api_key.revoked")).toHaveLength(1);
    expect((await auditOf(admin, `?keyId=${earlier.id}`)).filter((e) => e.action === "api_key.revoked")[0]?.actorId).toBe("usr_first");
  });

  it("a key of another workspace is revoked too (a leak is public), and nothing else crosses workspaces", async () => {
    const wsA = freshWs();
    const wsB = freshWs();
    const adminA = await session(wsA);
    const adminB = await session(wsB);
    const mine = await createKey(adminA);
    const theirs = await createKey(adminB);

    const res = await labels(await report([entry(mine.key), entry(theirs.key)]));
    expect(res.map((l) => l.label)).toEqual(["true_positive", "true_positive"]);
    for (const l of res) expect(Object.keys(l).sort()).toEqual(["label", "token_hash", "token_type"]);
    await expectRefused(await use(theirs.key), "revoked_api_key");

    // Each revoke is audited in the key's own workspace only.
    const eventsA = await auditOf(adminA);
    const eventsB = await auditOf(adminB);
    expect(eventsA.every((e) => e.workspaceId === wsA && e.keyId !== theirs.id)).toBe(true);
    expect(eventsB.every((e) => e.workspaceId === wsB && e.keyId !== mine.id)).toBe(true);
    expect(eventsB.filter((e) => e.action === "api_key.revoked")).toEqual([
      expect.objectContaining({ keyId: theirs.id, actorId: "github_secret_scanning" }),
    ]);
    expect((await call("GET", `/v1/api-keys/${theirs.id}`, { token: adminA })).status).toBe(404);
  });

  it("a replay answers the same labels and changes nothing: one revocation, one audit event", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin);
    const body = JSON.stringify([entry(k.key), entry(generateKey())]);
    const first = await labels(await report(body));
    const revokedAt = (await getKey(admin, k.id)).revokedAt;
    const again = await Promise.all([report(body), report(body), report(body)]);
    for (const res of again) expect(await labels(res)).toEqual(first);
    expect((await getKey(admin, k.id)).revokedAt).toBe(revokedAt);
    expect((await auditOf(admin, `?keyId=${k.id}`)).filter((e) => e.action === "api_key.revoked")).toHaveLength(1);
  });

  it("concurrent deliveries of one report: one revocation, one event, the same labels", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin);
    const body = JSON.stringify([entry(k.key)]);
    const answers = await Promise.all(Array.from({ length: 5 }, () => report(body)));
    const all = await Promise.all(answers.map(labels));
    for (const l of all) expect(l).toEqual(all[0]);
    expect((await auditOf(admin, `?keyId=${k.id}`)).filter((e) => e.action === "api_key.revoked")).toHaveLength(1);
  });

  it("accepts an empty report, unknown extra fields, and entries without url or source", async () => {
    expect(await labels(await report([]))).toEqual([]);
    const admin = await session(freshWs());
    const k = await createKey(admin);
    const res = await labels(await report([{ token: k.key, type: "owlish_api_key", found_at: "2026-01-01" }]));
    expect(res[0]?.label).toBe("true_positive");
    expect((await auditOf(admin, `?keyId=${k.id}`)).find((e) => e.action === "api_key.revoked")?.details).toEqual({
      reason: "leaked",
      url: null,
    });
  });
});

describe("the signature is checked before anything else", () => {
  it("a tampered body: 401 invalid_signature without a challenge, nothing revoked", async () => {
    const k = await createKey(await session(freshWs()));
    const signed = JSON.stringify([entry(k.key)]);
    const headers = await github.sign(signed);
    const tampered = signed.replace("leaky", "leakz");
    const res = await fetchWith(pinned, "POST", PATH, { body: tampered, headers: { "Content-Type": "application/json", ...headers } });
    await expectBadSignature(res);
    expect((await use(k.key)).status).toBe(200);
  });

  it("signed by a key GitHub does not list under that identifier: 401", async () => {
    const k = await createKey(await session(freshWs()));
    const impostor = await githubSigner(github.identifier);
    await expectBadSignature(await report([entry(k.key)], { signer: impostor }));
    expect((await use(k.key)).status).toBe(200);
  });

  it("an identifier GitHub does not list: 401", async () => {
    const k = await createKey(await session(freshWs()));
    await expectBadSignature(await report([entry(k.key)], { headers: { "Github-Public-Key-Identifier": "0".repeat(64) } }));
    const stranger = await githubSigner();
    await expectBadSignature(await report([entry(k.key)], { signer: stranger }));
    expect((await use(k.key)).status).toBe(200);
  });

  it("missing or garbled headers: 401", async () => {
    const k = await createKey(await session(freshWs()));
    const body = JSON.stringify([entry(k.key)]);
    const signed = await github.sign(body);
    const variants: Record<string, string>[] = [
      {},
      { "Github-Public-Key-Identifier": signed["Github-Public-Key-Identifier"]! },
      { "Github-Public-Key-Signature": signed["Github-Public-Key-Signature"]! },
      { ...signed, "Github-Public-Key-Signature": "not base64!" },
      { ...signed, "Github-Public-Key-Signature": "" },
    ];
    for (const headers of variants) {
      await expectBadSignature(
        await fetchWith(pinned, "POST", PATH, { body, headers: { "Content-Type": "application/json", ...headers } }),
      );
    }
    expect((await use(k.key)).status).toBe(200);
  });

  it("malformed JSON: 401 when unsigned, 400 only once the signature holds", async () => {
    const broken = '[{"token": "sk_live_';
    await expectBadSignature(await fetchWith(pinned, "POST", PATH, { body: broken, headers: { "Content-Type": "application/json" } }));
    const res = await report(broken);
    expect(res.status).toBe(400);
    expect((await problem(res)).code).toBe("invalid_request");
  });

  it("a body that is not a list of {token, type}: 400 naming the field", async () => {
    const cases: [unknown, string][] = [
      [{ token: "x", type: "y" }, ""],
      [[{ type: "owlish_api_key" }], "0.token"],
      [[{ token: 42, type: "owlish_api_key" }], "0.token"],
      [[entry(generateKey()), { token: "x" }], "1.type"],
      [["sk_live_x"], "0"],
    ];
    for (const [body, path] of cases) {
      const res = await report(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      const p = await problem(res);
      expect(p.code).toBe("invalid_request");
      expect(p.errors?.map((e) => e.path)).toContain(path);
    }
  });

  it("bytes that are not UTF-8: 400", async () => {
    const bytes = new Uint8Array([0x5b, 0xff, 0xfe, 0x5d]);
    const request = new Request(`https://owlish.test${PATH}`, {
      method: "POST",
      body: bytes,
      headers: { "Content-Type": "application/json", ...(await github.sign(bytes)) },
    });
    const res = await freshIsolate().fetch(request, pinned);
    expect(res.status).toBe(400);
  });
});

describe("limits", () => {
  it("1 000 tokens are accepted (our key among them revoked); 1 001 are refused with 413 and nothing is revoked", async () => {
    const admin = await session(freshWs());
    const k = await createKey(admin);
    const others = Array.from({ length: 1_000 }, () => entry(generateKey()));

    const tooMany = await report([entry(k.key), ...others]);
    expect(tooMany.status).toBe(413);
    expect((await problem(tooMany)).code).toBe("payload_too_large");
    expect((await use(k.key)).status).toBe(200);

    const res = await labels(await report([...others.slice(0, 999), entry(k.key)]));
    expect(res).toHaveLength(1_000);
    expect(res.filter((l) => l.label === "true_positive")).toHaveLength(1);
    expect(res[999]?.label).toBe("true_positive");
    await expectRefused(await use(k.key), "revoked_api_key");
  });

  it("a body over 1 MiB: 413 before any signature work", async () => {
    const body = JSON.stringify([{ token: "x", type: "y", url: "u".repeat(1024 * 1024) }]);
    const res = await fetchWith(pinned, "POST", PATH, {
      body,
      headers: { "Content-Type": "application/json", "Github-Public-Key-Identifier": "x", "Github-Public-Key-Signature": "eA==" },
    });
    expect(res.status).toBe(413);
    expect((await problem(res)).code).toBe("payload_too_large");
  });

  it("checks shape and checksum before any lookup: malformed tokens cost no D1 call; well-formed ones one batch", async () => {
    const malformed = [
      "sk_live_",
      "sk_live_0000000000000000000000000000000000000",
      `${generateKey().slice(0, -1)}!`,
      "AKIAIOSFODNN7EXAMPLE",
    ];
    const d1 = counted(env.DB);
    expect(
      (
        await labels(
          await report(
            malformed.map((t) => entry(t)),
            { overrides: { DB: d1.binding } },
          ),
        )
      ).every((l) => l.label === "false_positive"),
    ).toBe(true);
    expect(d1.calls).toEqual({});

    // 200 well-formed unknown tokens: the lookups (in chunks) go to D1 in a single round trip.
    const unknown = Array.from({ length: 200 }, () => entry(generateKey()));
    const d1b = counted(env.DB);
    expect((await labels(await report(unknown, { overrides: { DB: d1b.binding } }))).every((l) => l.label === "false_positive")).toBe(true);
    expect(d1b.calls.batch).toBe(1);
    expect(Object.keys(d1b.calls).filter((m) => m !== "batch" && m !== "prepare")).toEqual([]);
  });
});

describe("failures", () => {
  it("GitHub's public keys unobtainable (not pinned, fetch fails): 503, nothing revoked", async () => {
    const k = await createKey(await session(freshWs()));
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockRejectedValue(new Error("network unreachable"));
    const res = await report([entry(k.key)], {
      overrides: { SECRET_SCANNING_PUBLIC_KEYS: "", SECRET_SCANNING_KEYS_URL: `https://keys.test/${crypto.randomUUID()}` },
    });
    expect(res.status).toBe(503);
    expect((await problem(res)).code).toBe("unavailable");
    expect(fetchSpy).toHaveBeenCalled();
    expect((await use(k.key)).status).toBe(200);
  });

  it("not pinned: the keys are fetched from SECRET_SCANNING_KEYS_URL and the report verifies", async () => {
    const k = await createKey(await session(freshWs()));
    const url = `https://keys.test/${crypto.randomUUID()}`;
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockImplementation(async (input) => {
      expect(String(input instanceof Request ? input.url : input)).toBe(url);
      return new Response(keysDocument, { headers: { "Content-Type": "application/json" } });
    });
    const res = await labels(
      await report([entry(k.key)], { overrides: { SECRET_SCANNING_PUBLIC_KEYS: "", SECRET_SCANNING_KEYS_URL: url } }),
    );
    expect(res[0]?.label).toBe("true_positive");
    expect(fetchSpy).toHaveBeenCalledTimes(1);
    await expectRefused(await use(k.key), "revoked_api_key");
  });

  it("D1 unreachable after the signature verified: 503 unavailable", async () => {
    const k = await createKey(await session(freshWs()));
    const res = await report([entry(k.key)], { overrides: { DB: unreachableD1() } });
    expect(res.status).toBe(503);
    expect((await problem(res)).code).toBe("unavailable");
    expect((await use(k.key)).status).toBe(200);
  });

  it("a revoke statement fails: 503 and none of the report's keys is revoked (one batch)", async () => {
    const admin = await session(freshWs());
    const a = await createKey(admin);
    const b = await createKey(admin);
    const brokenAudit = new Proxy(env.DB, {
      get(target, prop) {
        if (prop === "prepare") return (query: string) => target.prepare(query.replaceAll("audit_events", "audit_events_unavailable"));
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const res = await report([entry(a.key), entry(b.key)], { overrides: { DB: brokenAudit } });
    expect(res.status).toBe(503);
    for (const k of [a, b]) {
      expect((await getKey(admin, k.id)).revokedAt).toBeNull();
      expect((await use(k.key)).status).toBe(200);
    }
  });
});

describe("secrecy", () => {
  it("never logs a reported token", async () => {
    const lines: string[] = [];
    for (const level of ["log", "info", "warn", "error", "debug"] as const) {
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" ")));
    }
    const admin = await session(freshWs());
    const ours = await createKey(admin);
    const tokens = [ours.key, generateKey(), "sk_live_notours"];
    await labels(await report(tokens.map((t) => entry(t))));
    await report("[not json", {}); // a refused one too
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) for (const t of tokens) expect(line).not.toContain(t);
  });
});
