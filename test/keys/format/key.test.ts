import { env } from "cloudflare:workers";
import fc from "fast-check";
import { afterEach, describe, expect, it, type MockInstance, vi } from "vitest";
import { crc32 } from "../../../src/keys/format/checksum";
import { CHECKSUM_LENGTH, displayPrefix, generateKey, isWellFormedKey, KEY_PREFIX, RANDOM_LENGTH } from "../../../src/keys/format/key";
import { BASE62, encodeBase62Fixed, randomBase62 } from "../../../src/lib/base62";
import { call, createKey, problem, session } from "../../support/helpers";

const KEY_RE = /^sk_live_[0-9A-Za-z]{38}$/;
const randomPart = (key: string) => key.slice(KEY_PREFIX.length, KEY_PREFIX.length + RANDOM_LENGTH);

/** A freshly generated key per run (fast-check cannot shrink it, but it never needs to). */
const keyArb = fc.constant(null).map(() => generateKey());
const base62Char = fc.constantFrom(...BASE62.split(""));
const anyChar = fc.oneof(
  base62Char,
  fc.string({ minLength: 1, maxLength: 1, unit: "binary" }),
  fc.constantFrom("_", "-", " ", "\n", "é", "0"),
);

function decodeBase62(s: string): number {
  let n = 0;
  for (const ch of s) n = n * 62 + BASE62.indexOf(ch);
  return n;
}

describe("key format", () => {
  it("generated keys match the secret-scanner pattern and pass the checksum", () => {
    fc.assert(
      fc.property(keyArb, (key) => {
        expect(key).toMatch(KEY_RE);
        expect(key.startsWith("sk_live_")).toBe(true);
        expect(isWellFormedKey(key)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it("carries at least 128 random bits: 32 random base62 characters, every position varying", () => {
    // Each of the 32 characters between the prefix and the checksum must
    // actually vary: over 2000 keys a uniform position shows essentially all
    // 62 characters (P(< 50) is astronomically small), a constant or
    // low-entropy one shows few. 32 such positions carry 32 × log2(62) ≈ 190 bits.
    const seen = Array.from({ length: 32 }, () => new Set<string>());
    for (let i = 0; i < 2000; i++) {
      const key = generateKey();
      expect(key).toHaveLength(46);
      const r = key.slice("sk_live_".length, -6);
      expect(r).toMatch(/^[0-9A-Za-z]{32}$/);
      for (let p = 0; p < 32; p++) seen[p]!.add(r[p]!);
    }
    for (const s of seen) expect(s.size).toBeGreaterThanOrEqual(50);
  });

  it("the checksum is the last 6 characters: CRC-32 of everything before, in fixed-width base62", () => {
    fc.assert(
      fc.property(keyArb, (key) => {
        const body = key.slice(0, -CHECKSUM_LENGTH);
        expect(decodeBase62(key.slice(-CHECKSUM_LENGTH))).toBe(crc32(body));
      }),
      { numRuns: 500 },
    );
  });

  it("any single-character substitution breaks the key", () => {
    fc.assert(
      fc.property(keyArb, fc.nat(), anyChar, (key, rawPos, ch) => {
        const pos = rawPos % key.length;
        fc.pre(key[pos] !== ch);
        const mutated = key.slice(0, pos) + ch + key.slice(pos + 1);
        expect(isWellFormedKey(mutated)).toBe(false);
      }),
      { numRuns: 5000 },
    );
  });

  it("every base62 substitution at every position of a key breaks it (exhaustive)", () => {
    for (let k = 0; k < 5; k++) {
      const key = generateKey();
      for (let pos = 0; pos < key.length; pos++) {
        for (const ch of BASE62) {
          if (ch === key[pos]) continue;
          expect(isWellFormedKey(key.slice(0, pos) + ch + key.slice(pos + 1)), `${pos} ${ch}`).toBe(false);
        }
      }
    }
  });

  it("any single-character deletion breaks the key", () => {
    fc.assert(
      fc.property(keyArb, fc.nat(), (key, rawPos) => {
        const pos = rawPos % key.length;
        expect(isWellFormedKey(key.slice(0, pos) + key.slice(pos + 1))).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it("any single-character insertion breaks the key", () => {
    fc.assert(
      fc.property(keyArb, fc.nat(), anyChar, (key, rawPos, ch) => {
        const pos = rawPos % (key.length + 1);
        expect(isWellFormedKey(key.slice(0, pos) + ch + key.slice(pos))).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it("any adjacent transposition of two different characters breaks the key", () => {
    fc.assert(
      fc.property(keyArb, fc.nat(), (key, rawPos) => {
        const pos = rawPos % (key.length - 1);
        fc.pre(key[pos] !== key[pos + 1]);
        const swapped = key.slice(0, pos) + key[pos + 1] + key[pos] + key.slice(pos + 2);
        expect(isWellFormedKey(swapped)).toBe(false);
      }),
      { numRuns: 5000 },
    );
    // And exhaustively, every adjacent pair of a few keys.
    for (let k = 0; k < 20; k++) {
      const key = generateKey();
      for (let pos = 0; pos < key.length - 1; pos++) {
        if (key[pos] === key[pos + 1]) continue;
        expect(isWellFormedKey(key.slice(0, pos) + key[pos + 1] + key[pos] + key.slice(pos + 2))).toBe(false);
      }
    }
  });

  it("arbitrary strings never pass", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80, unit: "grapheme" }), (s) => {
        expect(isWellFormedKey(s)).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it("made-up keys of the right shape almost never pass (the checksum catches them)", () => {
    // Each passes with probability 1/2^32; 20 000 tries pass none except with
    // probability < 5e-6. A key without a working checksum would pass them all.
    let passed = 0;
    fc.assert(
      fc.property(fc.string({ minLength: 38, maxLength: 38, unit: base62Char }), (tail) => {
        if (isWellFormedKey(KEY_PREFIX + tail)) passed++;
      }),
      { numRuns: 20_000 },
    );
    expect(passed).toBe(0);
  });

  it("wrong prefixes, cases and padding never pass", () => {
    const key = generateKey();
    const variants = [
      key.replace("sk_live_", "sk_test_"),
      key.replace("sk_live_", "SK_LIVE_"),
      key.replace("sk_live_", "sk-live-"),
      key.slice("sk_live_".length),
      ` ${key}`,
      `${key} `,
      `${key}\n`,
      key.toUpperCase() === key ? key.toLowerCase() : key.toUpperCase(),
      "",
    ];
    for (const v of variants) expect(isWellFormedKey(v), JSON.stringify(v)).toBe(false);
  });

  it("never generates the same key twice", () => {
    const keys = new Set<string>();
    const randoms = new Set<string>();
    const N = 20_000;
    for (let i = 0; i < N; i++) {
      const k = generateKey();
      keys.add(k);
      randoms.add(randomPart(k));
    }
    expect(keys.size).toBe(N);
    expect(randoms.size).toBe(N);
  });

  it("displayPrefix is a short prefix of the key that reveals almost none of its randomness", () => {
    fc.assert(
      fc.property(keyArb, (key) => {
        const p = displayPrefix(key);
        expect(key.startsWith(p)).toBe(true);
        expect(p.startsWith("sk_live_")).toBe(true);
        // Never more than a few random characters: the rest stays secret.
        expect(p.length - KEY_PREFIX.length).toBeGreaterThan(0);
        expect(p.length - KEY_PREFIX.length).toBeLessThanOrEqual(6);
      }),
      { numRuns: 500 },
    );
  });
});

describe("base62 and crc32", () => {
  it("randomBase62 returns exactly the asked length, all base62", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 300 }), (n) => {
        const s = randomBase62(n);
        expect(s).toHaveLength(n);
        expect(s).toMatch(/^[0-9A-Za-z]*$/);
      }),
      { numRuns: 300 },
    );
  });

  it("randomBase62 characters are uniform (chi-square sanity bound)", () => {
    // 62 000 draws, 1000 expected per character. With 61 degrees of freedom the
    // statistic has mean 61 and sd ~11; 200 is >12 sd out, P < 1e-15, so this
    // cannot flake. The classic `byte % 62` bias scores ~400 here.
    const counts = new Map<string, number>();
    const samples = 62_000;
    let drawn = 0;
    while (drawn < samples) {
      const chunk = randomBase62(1000);
      for (const ch of chunk) counts.set(ch, (counts.get(ch) ?? 0) + 1);
      drawn += chunk.length;
    }
    expect(counts.size).toBe(62);
    const expected = samples / 62;
    let chi2 = 0;
    for (const ch of BASE62) chi2 += ((counts.get(ch) ?? 0) - expected) ** 2 / expected;
    expect(chi2).toBeLessThan(200);
  });

  it("encodeBase62Fixed is a fixed-width, reversible encoding of 32-bit values", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (n) => {
        const s = encodeBase62Fixed(n, 6);
        expect(s).toHaveLength(6);
        expect(s).toMatch(/^[0-9A-Za-z]{6}$/);
        expect(decodeBase62(s)).toBe(n);
      }),
      { numRuns: 2000 },
    );
    expect(encodeBase62Fixed(0, 6)).toBe("000000");
    expect(encodeBase62Fixed(61, 6)).toBe("00000z");
    expect(encodeBase62Fixed(62, 6)).toBe("000010");
  });

  it("crc32 is the standard IEEE CRC-32", () => {
    expect(crc32("")).toBe(0);
    expect(crc32("123456789")).toBe(0xcbf43926);
    expect(crc32("The quick brown fox jumps over the lazy dog")).toBe(0x414fa339);
    expect(crc32("a")).toBe(0xe8b7be43);
  });
});

describe("over HTTP", () => {
  const spies: MockInstance[] = [];
  afterEach(() => {
    for (const s of spies.splice(0)) s.mockRestore();
  });

  /** Wraps every method of the storage bindings in a counting spy (calls go through). */
  function watchStorage() {
    const targets: [string, object][] = [
      ["DB", env.DB],
      ["KEY_CACHE", env.KEY_CACHE],
    ];
    // D1 sends every query through its internal fetcher: watch that too, if present.
    const fetcher = (env.DB as unknown as { fetcher?: { fetch?: unknown } }).fetcher;
    if (fetcher && typeof fetcher.fetch === "function") targets.push(["DB.fetcher", fetcher]);
    const watched: { name: string; spy: MockInstance }[] = [];
    for (const [label, obj] of targets) {
      const names = new Set<string>();
      for (let p: object | null = obj; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
        for (const n of Object.getOwnPropertyNames(p)) names.add(n);
      }
      for (const name of names) {
        if (name === "constructor") continue;
        const value = (obj as Record<string, unknown>)[name];
        if (typeof value !== "function") continue;
        const spy = vi.spyOn(obj as Record<string, (...args: unknown[]) => unknown>, name);
        spies.push(spy);
        watched.push({ name: `${label}.${name}`, spy });
      }
    }
    const calls = () =>
      Object.fromEntries(watched.filter((w) => w.spy.mock.calls.length > 0).map((w) => [w.name, w.spy.mock.calls.length]));
    return { watched, calls };
  }

  function breakChecksum(key: string): string {
    const last = key[key.length - 1]!;
    return key.slice(0, -1) + (last === "a" ? "b" : "a");
  }

  it("the storage watch sees lookups of a well-formed key (control)", async () => {
    const { watched, calls } = watchStorage();
    expect(watched.map((w) => w.name)).toEqual(expect.arrayContaining(["DB.prepare", "KEY_CACHE.get"]));
    // Well-formed, checksum correct, but never issued: must be looked up.
    const res = await call("GET", "/v1/key", { token: generateKey() });
    expect(res.status).toBe(401);
    expect((await problem(res)).code).toBe("invalid_credentials");
    const seen = calls();
    expect(seen["KEY_CACHE.get"]).toBeGreaterThan(0);
    expect(seen["DB.prepare"]).toBeGreaterThan(0);
    if (watched.some((w) => w.name === "DB.fetcher.fetch")) expect(seen["DB.fetcher.fetch"]).toBeGreaterThan(0);
  });

  it.each([
    ["the last checksum character changed", (k: string) => breakChecksum(k)],
    ["a random character changed", (k: string) => k.slice(0, 10) + (k[10] === "x" ? "y" : "x") + k.slice(11)],
    [
      "two adjacent characters swapped",
      (k: string) => {
        let i = 8;
        while (k[i] === k[i + 1]) i++;
        return k.slice(0, i) + k[i + 1] + k[i] + k.slice(i + 2);
      },
    ],
    ["a character dropped", (k: string) => k.slice(0, -2) + k.slice(-1)],
    ["a wrong prefix", (k: string) => k.replace("sk_live_", "sk_test_")],
  ])("a real key with %s is refused with 401 invalid_credentials without touching storage", async (_label, mutate) => {
    const admin = await session("ws_keyformat");
    const created = await createKey(admin, { name: "real", scopes: ["sources:read"] });
    // The real key works.
    expect((await call("GET", "/v1/sources", { token: created.key })).status).toBe(200);

    const bad = mutate(created.key);
    expect(bad).not.toBe(created.key);
    const { calls } = watchStorage();
    for (const path of ["/v1/key", "/v1/sources"]) {
      const res = await call("GET", path, { token: bad });
      expect(res.status).toBe(401);
      expect(res.headers.get("WWW-Authenticate")).toMatch(/^Bearer/);
      const p = await problem(res);
      expect(p.code).toBe("invalid_credentials");
    }
    expect(calls()).toEqual({});
  });

  it("made-up sk_live_ strings are all refused without a storage read", async () => {
    const { calls } = watchStorage();
    let checked = 0;
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 38, maxLength: 38, unit: base62Char }), async (tail) => {
        const candidate = KEY_PREFIX + tail;
        fc.pre(!isWellFormedKey(candidate));
        const res = await call("GET", "/v1/key", { token: candidate });
        expect(res.status).toBe(401);
        expect((await res.json()) as { code: string }).toMatchObject({ code: "invalid_credentials" });
        checked++;
      }),
      { numRuns: 50 },
    );
    expect(checked).toBeGreaterThan(0);
    expect(calls()).toEqual({});
  });

  it("the prefix shown for a created key is the start of that key", async () => {
    const admin = await session("ws_keyformat");
    for (let i = 0; i < 5; i++) {
      const created = await createKey(admin, { name: `k${i}`, scopes: ["sources:read"] });
      expect(created.key).toMatch(KEY_RE);
      expect(isWellFormedKey(created.key)).toBe(true);
      expect(created.prefix).toBe(displayPrefix(created.key));
      expect(created.key.startsWith(created.prefix)).toBe(true);
    }
  });
});
