import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { Env } from "../src/env";
import { createPublicKeySource, FetchMemory, MIN_FETCH_INTERVAL_MS, PublicKeysUnavailable } from "../src/secret-scanning/public-keys";
import { type GithubSigner, githubSigner, publicKeysDocument } from "./github-signing";
import { freezeClock, problem } from "./helpers";
import { failingKv, fetchWith, gate } from "./worker";

/**
 * The fetch of GitHub's public keys is throttled whatever the fetch and KV
 * do: at most one outbound fetch per interval (a minute, as SECURITY.md says),
 * however many reports arrive with identifiers GitHub does not list, and
 * whether the fetch, the KV write or all of KV fails. A failure is
 * remembered for the interval: reports meanwhile answer 503 `unavailable`
 * (GitHub retries) without a fetch. Counted at the runtime's fetch, as the
 * route calls it.
 */

const PATH = "/v1/secret-scanning/github";
/** A minute, as SECURITY.md says. */
const INTERVAL_MS = MIN_FETCH_INTERVAL_MS;
const REPORTS = 10;

let github: GithubSigner;
beforeAll(async () => {
  github = await githubSigner();
});
afterEach(() => vi.restoreAllMocks());

/** KV whose reads work and whose writes fail (a write limit, an outage of the write path). */
const kvWritesFailing = () =>
  ({
    get: (...args: Parameters<KVNamespace["get"]>) => env.KEY_CACHE.get(...args),
    put: () => Promise.reject(new Error("KV PUT failed: 429 Too Many Requests")),
  }) as unknown as KVNamespace;

/** The runtime's fetch, answering every call with `respond` and counting the calls. */
function network(respond: () => Response | Promise<Response>) {
  const spy = vi.spyOn(globalThis, "fetch").mockImplementation(async () => respond());
  return { calls: () => spy.mock.calls.length };
}
const down = () => Promise.reject(new TypeError("Network connection lost"));
const up = () => new Response(publicKeysDocument(github), { headers: { "Content-Type": "application/json" } });

/** A report signed by GitHub's key but naming an identifier GitHub does not list (a fresh one each time). */
async function reportWithUnknownIdentifier(overrides: Partial<Env>): Promise<Response> {
  const raw = JSON.stringify([{ token: "sk_live_notours", type: "owlish_api_key" }]);
  const headers = {
    "Content-Type": "application/json",
    ...(await github.sign(raw)),
    "Github-Public-Key-Identifier": `unknown-${crypto.randomUUID()}`,
  };
  return fetchWith(overrides, "POST", PATH, { body: raw, headers });
}

/** Not pinned: the keys come from a URL of this test's own, so no other test's document or throttle is in play. */
const fetched = (extra: Partial<Env> = {}): Partial<Env> => ({
  SECRET_SCANNING_PUBLIC_KEYS: "",
  SECRET_SCANNING_KEYS_URL: `https://keys.test/${crypto.randomUUID()}`,
  ...extra,
});

async function expectCode(res: Response, status: number, code: string) {
  expect(res.status, await res.clone().text()).toBe(status);
  expect((await problem(res)).code).toBe(code);
}

const cases: [string, () => Response | Promise<Response>, () => Partial<Env>, number, string][] = [
  ["the fetch works (KV fine)", up, () => fetched(), 401, "invalid_signature"],
  ["the fetch fails (KV fine)", down, () => fetched(), 503, "unavailable"],
  ["the fetch fails and KV writes fail", down, () => fetched({ KEY_CACHE: kvWritesFailing() }), 503, "unavailable"],
  ["the fetch fails and all of KV fails", down, () => fetched({ KEY_CACHE: failingKv() }), 503, "unavailable"],
  ["the fetch works but KV writes fail", up, () => fetched({ KEY_CACHE: kvWritesFailing() }), 401, "invalid_signature"],
  ["the fetch works but all of KV fails", up, () => fetched({ KEY_CACHE: failingKv() }), 401, "invalid_signature"],
  ["GitHub answers HTTP 500", () => new Response("oops", { status: 500 }), () => fetched(), 503, "unavailable"],
];

describe("GitHub's public keys: one outbound fetch per interval", () => {
  it("the interval is the minute SECURITY.md states", () => {
    expect(INTERVAL_MS).toBe(60_000);
  });

  it.each(cases)(
    `${REPORTS} reports with unknown identifiers while %s → one fetch; past the interval, one more`,
    async (_name, respond, overrides, status, code) => {
      vi.spyOn(console, "warn").mockImplementation(() => {});
      const clock = freezeClock();
      const net = network(respond);
      const env = overrides();
      for (let i = 0; i < REPORTS; i++) await expectCode(await reportWithUnknownIdentifier(env), status, code);
      expect(net.calls()).toBe(1);

      clock.advance(INTERVAL_MS - 1_000);
      await expectCode(await reportWithUnknownIdentifier(env), status, code);
      expect(net.calls()).toBe(1);

      clock.advance(2_000);
      for (let i = 0; i < REPORTS; i++) await expectCode(await reportWithUnknownIdentifier(env), status, code);
      expect(net.calls()).toBe(2);
    },
  );

  it(`${REPORTS} concurrent reports while GitHub hangs then fails share one fetch`, async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    freezeClock();
    const held = gate();
    const net = network(async () => {
      await held.pass();
      return down();
    });
    const env = fetched({ KEY_CACHE: kvWritesFailing() });
    const answers = Array.from({ length: REPORTS }, () => reportWithUnknownIdentifier(env));
    await held.arrived(1);
    held.open();
    for (const res of await Promise.all(answers)) await expectCode(res, 503, "unavailable");
    expect(net.calls()).toBe(1);
  });

  it("a remembered failure answers 503 with Retry-After, and nothing is fetched until the interval is over", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const clock = freezeClock();
    const net = network(down);
    const env = fetched();
    await expectCode(await reportWithUnknownIdentifier(env), 503, "unavailable");
    clock.advance(15_000);
    const res = await reportWithUnknownIdentifier(env);
    await expectCode(res, 503, "unavailable");
    const retryAfter = Number(res.headers.get("Retry-After"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual((INTERVAL_MS - 15_000) / 1000);
    expect(net.calls()).toBe(1);
  });
});

describe("the throttle across isolates of one location (KV working)", () => {
  interface KeyEntry {
    key_identifier: string;
    key: string;
  }
  const doc = (...ids: string[]) => ({ public_keys: ids.map((id): KeyEntry => ({ key_identifier: id, key: `pem-of-${id}` })) });

  /** Two isolates' sources over one KV: each with its own memory (as two isolates have), one clock, one network. */
  function location(respond: () => Response | Promise<Response>) {
    const url = `https://keys.test/${crypto.randomUUID()}`;
    let now = 1_000_000;
    let calls = 0;
    const fetch = (async () => {
      calls++;
      return respond();
    }) as typeof globalThis.fetch;
    const isolate = () => {
      const memory = new FetchMemory();
      return () => createPublicKeySource({ url, cache: env.KEY_CACHE, fetch, memory, now: () => now });
    };
    return {
      isolate,
      calls: () => calls,
      advance: (ms: number) => {
        now += ms;
      },
    };
  }

  it("a failed fetch in one isolate stops the others fetching for the interval: 503 without a fetch", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const loc = location(() => new Response("down", { status: 503 }));
    const isolates = Array.from({ length: 5 }, () => loc.isolate());
    for (const source of isolates) {
      for (let i = 0; i < 3; i++) await expect(source().keyFor(`unknown-${i}`)).rejects.toBeInstanceOf(PublicKeysUnavailable);
    }
    expect(loc.calls()).toBe(1);
    loc.advance(INTERVAL_MS + 1);
    for (const source of isolates) await expect(source().keyFor("unknown-later")).rejects.toBeInstanceOf(PublicKeysUnavailable);
    expect(loc.calls()).toBe(2);
  });

  it("a remembered failure does not stop a known identifier from verifying", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    let healthy = true;
    const loc = location(() => (healthy ? Response.json(doc("known")) : new Response("down", { status: 503 })));
    const [a, b] = [loc.isolate(), loc.isolate()];
    expect(await a().keyFor("known")).toBe("pem-of-known");
    healthy = false;
    loc.advance(INTERVAL_MS + 1);
    await expect(a().keyFor("rotated-in")).rejects.toBeInstanceOf(PublicKeysUnavailable);
    expect(await b().keyFor("known")).toBe("pem-of-known");
    await expect(b().keyFor("rotated-in")).rejects.toBeInstanceOf(PublicKeysUnavailable);
    expect(loc.calls()).toBe(2);
  });

  it("with KV down, an isolate answers from the document it fetched, for the document's hour, without fetching again", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const url = `https://keys.test/${crypto.randomUUID()}`;
    const memory = new FetchMemory();
    let now = 1_000_000;
    let calls = 0;
    const fetch = (async () => {
      calls++;
      return Response.json(doc("a"));
    }) as typeof globalThis.fetch;
    const source = () => createPublicKeySource({ url, cache: failingKv(), memory, fetch, now: () => now });
    expect(await source().keyFor("a")).toBe("pem-of-a");
    now += 30 * 60_000;
    for (let i = 0; i < 5; i++) expect(await source().keyFor("a")).toBe("pem-of-a");
    expect(calls).toBe(1);
  });
});
