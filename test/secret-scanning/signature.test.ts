import { env } from "cloudflare:workers";
import fc from "fast-check";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { derToRawSignature } from "../../src/secret-scanning/der";
import {
  createPublicKeySource,
  DEFAULT_PUBLIC_KEYS_URL,
  PUBLIC_KEYS_TTL_SECONDS,
  PublicKeysUnavailable,
  publicKeysCacheKey,
} from "../../src/secret-scanning/public-keys";
import { verifyGithubSignature } from "../../src/secret-scanning/signature";
import { gate } from "../support/bindings";
import { concat, generateKeyPair, rawToDer, signDer, signRaw, tlv, toBase64, toPem } from "../support/github-signing";

/**
 * GitHub's secret scanning signatures: ECDSA P-256 / SHA-256, DER, base64.
 * Keys are generated here and bodies signed with WebCrypto, whose raw r‖s
 * output is turned into DER by the small encoder in github-signing.ts, as GitHub sends it.
 */

const encoder = new TextEncoder();

// ---- test-side helpers (independent of the code under test) ----

/** The content lengths of r and s in a DER signature made by rawToDer (short-form lengths). */
function integerLengths(der: Uint8Array): [number, number] {
  const rLength = der[3] ?? 0;
  return [rLength, der[4 + rLength + 1] ?? 0];
}

// ---- fixtures ----

let keys: CryptoKeyPair;
let pem: string;
const body = encoder.encode(
  '[{"token":"sk_live_example","type":"owlish_api_key","url":"https://github.com/o/r/blob/x/f","source":"content"}]',
);

interface Signed {
  raw: Uint8Array;
  der: Uint8Array;
}
/** Signatures of `body` with particular shapes, found by signing until each occurs (ECDSA is randomised). */
const shapes: Partial<Record<"rPadded" | "sPadded" | "rShort" | "sShort" | "unpadded", Signed>> = {};
const MAX_SIGNING_ATTEMPTS = 20_000; // P(no short r in 20 000) = (511/512)^20 000 ≈ e^-39

beforeAll(async () => {
  keys = await generateKeyPair();
  pem = await toPem(keys.publicKey);
  for (let i = 0; i < MAX_SIGNING_ATTEMPTS; i++) {
    const raw = await signRaw(keys.privateKey, body);
    const r0 = raw[0] ?? 0;
    const s0 = raw[32] ?? 0;
    const signed = { raw, der: rawToDer(raw) };
    if (r0 & 0x80) shapes.rPadded ??= signed;
    if (s0 & 0x80) shapes.sPadded ??= signed;
    // Short: the leading zero byte is dropped and no sign byte replaces it.
    if (r0 === 0 && (raw[1] ?? 0) < 0x80) shapes.rShort ??= signed;
    if (s0 === 0 && (raw[33] ?? 0) < 0x80) shapes.sShort ??= signed;
    if (r0 !== 0 && r0 < 0x80 && s0 !== 0 && s0 < 0x80) shapes.unpadded ??= signed;
    if (Object.keys(shapes).length === 5) break;
  }
}, 60_000);

function shape(name: keyof typeof shapes): Signed {
  const s = shapes[name];
  if (!s) throw new Error(`no ${name} signature found in ${MAX_SIGNING_ATTEMPTS} attempts`);
  return s;
}

describe("derToRawSignature", () => {
  it("converts a signature with no padding to the same r‖s WebCrypto produced", () => {
    const { raw, der } = shape("unpadded");
    expect(der.length).toBe(2 + 2 + 32 + 2 + 32);
    expect(derToRawSignature(der)).toEqual(raw);
  });

  it("drops the 0x00 sign byte before an r or s with the high bit set", () => {
    const rPadded = shape("rPadded");
    expect(integerLengths(rPadded.der)[0]).toBe(33);
    expect(derToRawSignature(rPadded.der)).toEqual(rPadded.raw);
    const sPadded = shape("sPadded");
    expect(integerLengths(sPadded.der)[1]).toBe(33);
    expect(derToRawSignature(sPadded.der)).toEqual(sPadded.raw);
  });

  it("left-pads a short r or s (leading zero bytes dropped by DER) to 32 bytes", () => {
    for (const [name, which] of [
      ["rShort", 0],
      ["sShort", 1],
    ] as const) {
      const { raw, der } = shape(name);
      expect(integerLengths(der)[which]).toBeLessThan(32);
      const out = derToRawSignature(der);
      expect(out).toEqual(raw);
      expect(out?.length).toBe(64);
    }
  });

  it("accepts tiny integers and pads them", () => {
    const out = derToRawSignature(tlv(0x30, concat(tlv(0x02, [0x01]), tlv(0x02, [0x00, 0x80]))));
    const expected = new Uint8Array(64);
    expected[31] = 0x01;
    expected[63] = 0x80;
    expect(out).toEqual(expected);
  });

  it("accepts a long-form sequence length where DER requires one (P-521 size)", () => {
    const int = concat([0x00], new Uint8Array(66).fill(0xff)); // 67 bytes
    const content = concat(tlv(0x02, int), tlv(0x02, int)); // 138 bytes
    const der = concat([0x30, 0x81, content.length], content);
    const out = derToRawSignature(der, 66);
    expect(out?.length).toBe(132);
    expect(out?.every((b) => b === 0xff)).toBe(true);
    // The same input is too wide for P-256.
    expect(derToRawSignature(der)).toBeNull();
  });

  const r = new Uint8Array(32).fill(0x11);
  const s = new Uint8Array(32).fill(0x22);
  const goodR = tlv(0x02, r);
  const goodS = tlv(0x02, s);
  const good = tlv(0x30, concat(goodR, goodS));

  it("the well-formed reference input converts", () => {
    expect(derToRawSignature(good)).toEqual(concat(r, s));
  });

  const malformed: [string, Uint8Array][] = [
    ["empty input", new Uint8Array(0)],
    ["a lone sequence tag", new Uint8Array([0x30])],
    ["an empty sequence", new Uint8Array([0x30, 0x00])],
    ["only r", tlv(0x30, goodR)],
    ["three integers", tlv(0x30, concat(goodR, goodS, goodS))],
    ["trailing garbage after the sequence", concat(good, [0x00])],
    ["trailing garbage inside the sequence", tlv(0x30, concat(goodR, goodS, [0x00]))],
    ["SET instead of SEQUENCE", tlv(0x31, concat(goodR, goodS))],
    ["BIT STRING instead of INTEGER", tlv(0x30, concat(tlv(0x03, r), goodS))],
    ["OCTET STRING instead of INTEGER s", tlv(0x30, concat(goodR, tlv(0x04, s)))],
    ["sequence length overruns the input", concat([0x30, good.length - 1], good.subarray(2))],
    ["sequence length shorter than its content", concat([0x30, good.length - 3], good.subarray(2))],
    ["r's length swallows the tag of s", tlv(0x30, concat([0x02, 0x21], r, goodS))],
    ["s's length runs past the sequence", tlv(0x30, concat(goodR, [0x02, 0x21], s))],
    ["integer length overruns the input", concat([0x30, 0x44, 0x02, 0x20], r, [0x02, 0x7f], s)],
    ["long form for a short length (0x81 0x44)", concat([0x30, 0x81, 0x44], goodR, goodS)],
    ["two-byte long form with a leading zero", concat([0x30, 0x82, 0x00, 0x44], goodR, goodS)],
    ["indefinite length (0x80)", concat([0x30, 0x80], goodR, goodS, [0x00, 0x00])],
    ["three length bytes", concat([0x30, 0x83, 0x00, 0x00, 0x44], goodR, goodS)],
    ["long-form integer length", tlv(0x30, concat([0x02, 0x81, 0x20], r, goodS))],
    ["negative r (high bit, no pad)", tlv(0x30, concat(tlv(0x02, new Uint8Array(32).fill(0x80)), goodS))],
    ["negative s (0xff)", tlv(0x30, concat(goodR, tlv(0x02, [0xff])))],
    ["zero r", tlv(0x30, concat(tlv(0x02, [0x00]), goodS))],
    ["zero s", tlv(0x30, concat(goodR, tlv(0x02, [0x00])))],
    ["empty integer", tlv(0x30, concat(tlv(0x02, []), goodS))],
    ["non-minimal: 0x00 before a byte below 0x80", tlv(0x30, concat(tlv(0x02, concat([0x00], r)), goodS))],
    ["non-minimal: two 0x00 pad bytes", tlv(0x30, concat(goodR, tlv(0x02, concat([0x00, 0x00], new Uint8Array(32).fill(0x90)))))],
    ["non-minimal zero (0x00 0x00)", tlv(0x30, concat(tlv(0x02, [0x00, 0x00]), goodS))],
    ["33 bytes without a sign pad", tlv(0x30, concat(tlv(0x02, concat([0x01], r)), goodS))],
    ["34 bytes (sign pad + 33)", tlv(0x30, concat(goodR, tlv(0x02, concat([0x00, 0x80], s))))],
  ];
  it.each(malformed)("refuses %s", (_name, der) => {
    expect(derToRawSignature(der)).toBeNull();
  });

  it("refuses a nonsensical size instead of throwing", () => {
    expect(derToRawSignature(good, 0)).toBeNull();
    expect(derToRawSignature(good, -1)).toBeNull();
    expect(derToRawSignature(good, 1.5)).toBeNull();
  });

  it("round-trips any positive r and s, and never throws on any bytes", () => {
    const nonZero32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).filter((b) => b.some((x) => x !== 0));
    fc.assert(
      fc.property(nonZero32, nonZero32, (r, s) => {
        const raw = concat(r, s);
        expect(derToRawSignature(rawToDer(raw))).toEqual(raw);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        const out = derToRawSignature(bytes);
        expect(out === null || out.length === 64).toBe(true);
      }),
      { numRuns: 2_000 },
    );
  });
});

describe("verifyGithubSignature", () => {
  it("accepts GitHub-style signatures of every shape: padded, short and plain r and s", async () => {
    for (const name of ["unpadded", "rPadded", "sPadded", "rShort", "sShort"] as const) {
      expect(await verifyGithubSignature(body, toBase64(shape(name).der), pem), name).toBe(true);
    }
  });

  it("takes the body as an ArrayBuffer too", async () => {
    const der = await signDer(keys.privateKey, body);
    const buffer = body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer;
    expect(await verifyGithubSignature(buffer, toBase64(der), pem)).toBe(true);
  });

  it("verifies the raw bytes: re-serialised JSON of the same payload fails", async () => {
    const spaced = encoder.encode('[ { "token": "sk_live_example" } ]');
    const signature = toBase64(await signDer(keys.privateKey, spaced));
    expect(await verifyGithubSignature(spaced, signature, pem)).toBe(true);
    const reserialised = encoder.encode(JSON.stringify(JSON.parse('[ { "token": "sk_live_example" } ]')));
    expect(await verifyGithubSignature(reserialised, signature, pem)).toBe(false);
  });

  it("refuses a tampered body", async () => {
    const signature = toBase64(shape("unpadded").der);
    const tampered = body.slice();
    tampered[10] = (tampered[10] ?? 0) ^ 0x01;
    expect(await verifyGithubSignature(tampered, signature, pem)).toBe(false);
    expect(await verifyGithubSignature(concat(body, [0x20]), signature, pem)).toBe(false);
    expect(await verifyGithubSignature(body.subarray(0, body.length - 1), signature, pem)).toBe(false);
  });

  it("refuses a tampered signature", async () => {
    const der = shape("unpadded").der.slice();
    der[der.length - 1] = (der[der.length - 1] ?? 0) ^ 0x01; // last byte of s
    expect(await verifyGithubSignature(body, toBase64(der), pem)).toBe(false);
    const swapped = shape("unpadded").raw;
    const sr = rawToDer(concat(swapped.subarray(32), swapped.subarray(0, 32))); // s and r exchanged
    expect(await verifyGithubSignature(body, toBase64(sr), pem)).toBe(false);
  });

  it("refuses a signature by another key", async () => {
    const other = await generateKeyPair();
    const signature = toBase64(await signDer(other.privateKey, body));
    expect(await verifyGithubSignature(body, signature, pem)).toBe(false);
    expect(await verifyGithubSignature(body, signature, await toPem(other.publicKey))).toBe(true);
  });

  it("refuses the raw 64-byte r‖s WebCrypto produces (GitHub sends DER)", async () => {
    const raw = await signRaw(keys.privateKey, body);
    expect(await verifyGithubSignature(body, toBase64(raw), pem)).toBe(false);
  });

  it("refuses DER with trailing garbage even though r and s are right", async () => {
    const der = shape("unpadded").der;
    expect(await verifyGithubSignature(body, toBase64(concat(der, [0x00])), pem)).toBe(false);
  });

  it("tolerates missing base64 padding, and nothing else", async () => {
    // 70-byte DER (no pads) → 94 base64 characters + "==".
    const padded = toBase64(shape("unpadded").der);
    expect(padded.endsWith("==")).toBe(true);
    expect(await verifyGithubSignature(body, padded.replace(/=+$/, ""), pem)).toBe(true);
    const garbage = [
      "",
      "!!!!",
      "not base64 at all",
      `${padded.slice(0, 10)} ${padded.slice(10)}`, // inner space
      ` ${padded}`,
      `${padded}\n`,
      `${padded.replace(/=+$/, "").slice(0, -2)}-_`, // url-safe alphabet
      `${padded}=`, // too much padding
      `${padded.slice(0, 8)}=${padded.slice(8)}`, // stray padding inside
      `${padded.replace(/=+$/, "")}AAA`, // 94 + 3 = 97 characters: a length (4n+1) no base64 has
      "A".repeat(10_000), // far too long for a signature
    ];
    for (const g of garbage) expect(await verifyGithubSignature(body, g, pem), JSON.stringify(g.slice(0, 40))).toBe(false);
  });

  it("refuses garbage keys, and keys that are not P-256, without throwing", async () => {
    const signature = toBase64(shape("unpadded").der);
    const p384 = await toPem((await generateKeyPair("P-384")).publicKey);
    const bad = [
      "",
      "not a pem",
      pem.replace("PUBLIC KEY", "CERTIFICATE"),
      pem.replace("BEGIN PUBLIC KEY", "BEGIN EC PUBLIC KEY").replace("END PUBLIC KEY", "END EC PUBLIC KEY"),
      pem.replace(/\n[A-Za-z0-9+/]{10}/, "\n"), // body damaged
      "-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----",
      p384,
    ];
    for (const k of bad) expect(await verifyGithubSignature(body, signature, k)).toBe(false);
    // The same key imported after those still works (failures are cached per PEM, not globally).
    expect(await verifyGithubSignature(body, signature, pem)).toBe(true);
  });

  it("logs nothing, whatever it is given (no signature or body ever reaches the logs)", async () => {
    const spies = [vi.spyOn(console, "log"), vi.spyOn(console, "warn"), vi.spyOn(console, "error")];
    try {
      await verifyGithubSignature(body, toBase64(shape("unpadded").der), pem);
      await verifyGithubSignature(body, "garbage", pem);
      await verifyGithubSignature(body, toBase64(shape("unpadded").der), "garbage");
      for (const spy of spies) expect(spy).not.toHaveBeenCalled();
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
  });

  it("property: sign → DER → verify holds for any body, and flipping any byte breaks it", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2_048 }), fc.nat(), fc.integer({ min: 1, max: 255 }), async (b, at, mask) => {
        const signature = toBase64(await signDer(keys.privateKey, b));
        expect(await verifyGithubSignature(b, signature, pem)).toBe(true);
        if (b.length === 0) return;
        const flipped = b.slice();
        const i = at % b.length;
        flipped[i] = (flipped[i] ?? 0) ^ mask;
        expect(await verifyGithubSignature(flipped, signature, pem)).toBe(false);
      }),
      { numRuns: 50 },
    );
  });
});

// ---- public keys ----

interface KeyEntry {
  key_identifier: string;
  key: string;
  is_current?: boolean;
}
const doc = (...entries: KeyEntry[]) => ({ public_keys: entries });
const entry = (id: string, key = `pem-of-${id}`): KeyEntry => ({ key_identifier: id, key, is_current: true });

/** A stand-in for the network: answers each call with `respond(call number)` and records what was asked. */
function fakeFetch(respond: (call: number, init: RequestInit | undefined) => Response | Promise<Response>) {
  const calls: { url: string; init: RequestInit | undefined }[] = [];
  const fn = (async (input: RequestInfo | URL, init?: RequestInit) => {
    calls.push({ url: input instanceof Request ? input.url : String(input), init });
    return respond(calls.length, init);
  }) as typeof fetch;
  return { fn, calls };
}
const json = (value: unknown, status = 200) => Response.json(value, { status });
const failIfCalled = fakeFetch(() => {
  throw new Error("fetch must not be called");
});

/** Each test its own URL, hence its own KV entry: no test sees another's cached document. */
const freshUrl = () => `https://keys.test/${crypto.randomUUID()}`;

describe("createPublicKeySource", () => {
  it("with the inline var: answers from it only, never fetching", async () => {
    const source = createPublicKeySource({
      inline: JSON.stringify(doc(entry("a"), { key_identifier: "b", key: "pem-b", is_current: false })),
      url: freshUrl(),
      cache: env.KEY_CACHE,
      fetch: failIfCalled.fn,
    });
    expect(await source.keyFor("a")).toBe("pem-of-a");
    expect(await source.keyFor("b")).toBe("pem-b"); // a non-current key is still a key
    expect(await source.keyFor("c")).toBeNull();
    expect(failIfCalled.calls).toHaveLength(0);
  });

  it("a malformed inline var is a configuration error, thrown at construction with the var's name", () => {
    for (const inline of ["{", "[]", '{"public_keys":[]}', '{"public_keys":[{"key_identifier":"a"}]}', '{"keys":[]}']) {
      expect(() => createPublicKeySource({ inline, url: freshUrl(), cache: env.KEY_CACHE }), inline).toThrow(/SECRET_SCANNING_PUBLIC_KEYS/);
      expect(() => createPublicKeySource({ inline, url: freshUrl(), cache: env.KEY_CACHE })).not.toThrow(PublicKeysUnavailable);
    }
  });

  it("a blank inline var counts as unset", async () => {
    const net = fakeFetch(() => json(doc(entry("a"))));
    const source = createPublicKeySource({ inline: "  ", url: freshUrl(), cache: env.KEY_CACHE, fetch: net.fn });
    expect(await source.keyFor("a")).toBe("pem-of-a");
    expect(net.calls).toHaveLength(1);
  });

  it("fetches once with a User-Agent, Accept and a timeout, then answers from KV (1 h TTL)", async () => {
    const url = freshUrl();
    const net = fakeFetch(() => json(doc(entry("a"), entry("b"))));
    const first = createPublicKeySource({ url, cache: env.KEY_CACHE, fetch: net.fn });
    expect(await first.keyFor("a")).toBe("pem-of-a");
    expect(net.calls).toHaveLength(1);
    const call = net.calls[0];
    expect(call?.url).toBe(url);
    const headers = new Headers(call?.init?.headers);
    expect(headers.get("User-Agent")).toMatch(/\S/);
    expect(headers.get("Accept")).toBe("application/json");
    expect(call?.init?.signal).toBeInstanceOf(AbortSignal);

    // Another request (a new source, as the route makes per request) reads KV.
    const second = createPublicKeySource({ url, cache: env.KEY_CACHE, fetch: net.fn });
    expect(await second.keyFor("b")).toBe("pem-of-b");
    expect(await second.keyFor("a")).toBe("pem-of-a");
    expect(net.calls).toHaveLength(1);

    const listed = await env.KEY_CACHE.list({ prefix: publicKeysCacheKey(url) });
    expect(listed.keys).toHaveLength(1);
    const expiration = listed.keys[0]?.expiration ?? 0;
    expect(Math.abs(expiration - (Date.now() / 1000 + PUBLIC_KEYS_TTL_SECONDS))).toBeLessThan(60);
  });

  it("keeps each URL's document apart in KV", () => {
    expect(publicKeysCacheKey(DEFAULT_PUBLIC_KEYS_URL)).toMatch(/^secret-scanning:github-public-keys:[0-9a-f]{32}$/);
    expect(publicKeysCacheKey("https://ghe.example.com/api/v3/meta/public_keys/secret_scanning")).not.toBe(
      publicKeysCacheKey(DEFAULT_PUBLIC_KEYS_URL),
    );
  });

  it("refetches once, bypassing KV, for an identifier the cached document lacks (key rotation)", async () => {
    const url = freshUrl();
    let now = 1_000_000;
    const net = fakeFetch((call) => json(call === 1 ? doc(entry("old")) : doc(entry("old"), entry("new"))));
    const source = () => createPublicKeySource({ url, cache: env.KEY_CACHE, fetch: net.fn, now: () => now });
    expect(await source().keyFor("old")).toBe("pem-of-old");
    now += 3_600_000; // GitHub rotated meanwhile; our copy is old
    expect(await source().keyFor("new")).toBe("pem-of-new");
    expect(net.calls).toHaveLength(2);
    // The fresh document replaced the cached one: no further fetch.
    expect(await source().keyFor("new")).toBe("pem-of-new");
    expect(await source().keyFor("old")).toBe("pem-of-old");
    expect(net.calls).toHaveLength(2);
  });

  it("an identifier absent even after the refetch is null; refetches are throttled, not repeated per request", async () => {
    const url = freshUrl();
    let now = 1_000_000;
    const net = fakeFetch(() => json(doc(entry("a"))));
    const source = () => createPublicKeySource({ url, cache: env.KEY_CACHE, fetch: net.fn, now: () => now });
    expect(await source().keyFor("a")).toBe("pem-of-a");
    // Just fetched (by this very call, or moments ago): no refetch.
    expect(await source().keyFor("made-up-1")).toBeNull();
    expect(await createPublicKeySource({ url: freshUrl(), cache: env.KEY_CACHE, fetch: net.fn, now: () => now }).keyFor("x")).toBeNull();
    expect(net.calls).toHaveLength(2); // the second source's first fetch only
    now += 61_000;
    expect(await source().keyFor("made-up-2")).toBeNull(); // one refetch, still unknown
    expect(net.calls).toHaveLength(3);
    // A flood of made-up identifiers right after costs nothing more.
    for (let i = 0; i < 20; i++) expect(await source().keyFor(`made-up-${i + 3}`)).toBeNull();
    expect(net.calls).toHaveLength(3);
    now += 61_000;
    expect(await source().keyFor("made-up-again")).toBeNull();
    expect(net.calls).toHaveLength(4);
  });

  it("the refetch throttle holds in this isolate even when KV still serves the older copy", async () => {
    const url = freshUrl();
    let now = 1_000_000;
    const net = fakeFetch(() => json(doc(entry("a"))));
    // A KV whose writes never show: every read returns the first, old copy.
    const stale = { fetchedAt: now, document: doc(entry("a")) };
    const kv = {
      get: async () => stale,
      put: async () => {},
    } as unknown as KVNamespace;
    const source = () => createPublicKeySource({ url, cache: kv, fetch: net.fn, now: () => now });
    now += 3_600_000;
    expect(await source().keyFor("unknown-1")).toBeNull();
    expect(await source().keyFor("unknown-2")).toBeNull();
    expect(net.calls).toHaveLength(1);
  });

  it("does not ask KV or GitHub about an identifier no document can hold", async () => {
    const source = createPublicKeySource({ url: freshUrl(), cache: env.KEY_CACHE, fetch: failIfCalled.fn });
    expect(await source.keyFor("")).toBeNull();
    expect(await source.keyFor("x".repeat(513))).toBeNull();
    expect(failIfCalled.calls).toHaveLength(0);
  });

  it("concurrent misses in one isolate share one fetch", async () => {
    const url = freshUrl();
    // The fetch is held until all five have missed in KV: each then finds it in flight.
    const held = gate();
    const net = fakeFetch(async () => {
      await held.pass();
      return json(doc(entry("a")));
    });
    let misses = 0;
    const cache = {
      get: async (name: string, options: KVNamespaceGetOptions<"json">) => {
        const value = await env.KEY_CACHE.get(name, options);
        if (++misses === 5) held.open();
        return value;
      },
      put: (...args: Parameters<KVNamespace["put"]>) => env.KEY_CACHE.put(...args),
    } as unknown as KVNamespace;
    const answers = await Promise.all(Array.from({ length: 5 }, () => createPublicKeySource({ url, cache, fetch: net.fn }).keyFor("a")));
    expect(answers).toEqual(Array(5).fill("pem-of-a"));
    expect(net.calls).toHaveLength(1);
  });

  it("a corrupt KV entry counts as a miss and is replaced", async () => {
    const url = freshUrl();
    await env.KEY_CACHE.put(publicKeysCacheKey(url), JSON.stringify({ fetchedAt: "yesterday", document: { public_keys: "no" } }));
    const net = fakeFetch(() => json(doc(entry("a"))));
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    try {
      expect(await createPublicKeySource({ url, cache: env.KEY_CACHE, fetch: net.fn }).keyFor("a")).toBe("pem-of-a");
      expect(await createPublicKeySource({ url, cache: env.KEY_CACHE, fetch: net.fn }).keyFor("a")).toBe("pem-of-a");
    } finally {
      warn.mockRestore();
    }
    expect(net.calls).toHaveLength(1);
  });

  const failures: [string, () => Response | Promise<Response>][] = [
    ["a network error", () => Promise.reject(new TypeError("Network connection lost"))],
    ["HTTP 500", () => new Response("oops", { status: 500 })],
    ["HTTP 403 (rate limited)", () => json({ message: "API rate limit exceeded" }, 403)],
    ["invalid JSON", () => new Response("<html>not json</html>", { status: 200 })],
    ["JSON of another shape", () => json({ keys: [] })],
    ["an empty key list", () => json({ public_keys: [] })],
    [
      "an announced huge body",
      () => new Response(JSON.stringify(doc(entry("a"))), { headers: { "Content-Length": String(10 * 1024 * 1024) } }),
    ],
    ["a huge body", () => new Response(" ".repeat(100 * 1024) + JSON.stringify(doc(entry("a"))))],
  ];
  it.each(failures)("%s → PublicKeysUnavailable, and nothing is cached", async (_name, respond) => {
    const url = freshUrl();
    const net = fakeFetch(respond);
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    try {
      const error = await createPublicKeySource({ url, cache: env.KEY_CACHE, fetch: net.fn })
        .keyFor("a")
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PublicKeysUnavailable);
      expect((error as Error).name).toBe("PublicKeysUnavailable");
    } finally {
      warn.mockRestore();
    }
    expect(await env.KEY_CACHE.get(publicKeysCacheKey(url))).toBeNull();
  });

  it("a GitHub that does not answer times out → PublicKeysUnavailable", async () => {
    const hang = fakeFetch(
      (_call, init) =>
        new Promise<Response>((_resolve, reject) => {
          init?.signal?.addEventListener("abort", () => reject(init.signal?.reason));
        }),
    );
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    try {
      const source = createPublicKeySource({ url: freshUrl(), cache: env.KEY_CACHE, fetch: hang.fn, timeoutMs: 50 });
      await expect(source.keyFor("a")).rejects.toBeInstanceOf(PublicKeysUnavailable);
    } finally {
      warn.mockRestore();
    }
  });

  it("a failed refetch (unknown identifier, GitHub down) → PublicKeysUnavailable, so GitHub retries", async () => {
    const url = freshUrl();
    let now = 1_000_000;
    const net = fakeFetch((call) => (call === 1 ? json(doc(entry("a"))) : new Response("down", { status: 503 })));
    const source = () => createPublicKeySource({ url, cache: env.KEY_CACHE, fetch: net.fn, now: () => now });
    expect(await source().keyFor("a")).toBe("pem-of-a");
    now += 3_600_000;
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    try {
      await expect(source().keyFor("b")).rejects.toBeInstanceOf(PublicKeysUnavailable);
    } finally {
      warn.mockRestore();
    }
    // The known key is still served from the cached document.
    expect(await source().keyFor("a")).toBe("pem-of-a");
  });

  it("end to end: the key GitHub lists under the request's identifier verifies the request", async () => {
    const other = await generateKeyPair();
    const good = fakeFetch(() => json(doc(entry("k-old", pem), entry("k-new", "junk"))));
    const source = createPublicKeySource({ url: freshUrl(), cache: env.KEY_CACHE, fetch: good.fn });
    const signature = toBase64(shape("unpadded").der);
    const keyOld = await source.keyFor("k-old");
    expect(keyOld).not.toBeNull();
    expect(await verifyGithubSignature(body, signature, keyOld ?? "")).toBe(true);
    // A listed key that is not a usable PEM verifies nothing.
    expect(await verifyGithubSignature(body, signature, (await source.keyFor("k-new")) ?? "")).toBe(false);
    // Signed by a key GitHub does not list under that identifier: refused.
    const forged = toBase64(await signDer(other.privateKey, body));
    expect(await verifyGithubSignature(body, forged, keyOld ?? "")).toBe(false);
  });
});
