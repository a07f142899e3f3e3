import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Json } from "../../src/docs/examples";
import { fieldErrors } from "../../src/http/openapi";
import { generateKey } from "../../src/keys/format/key";
import { IpAllowlistSchema, MAX_IP_ALLOWLIST_ENTRIES } from "../../src/keys/guard-rails/schemas";
import { allowlistMatches, compileAllowlist, formatCidr, parseCidr } from "../../src/lib/cidr";
import { formatIp, type ParsedIp, parseIp } from "../../src/lib/ip";

/**
 * Per-key IP allowlists: strict parsing, canonical text, and matching on
 * parsed addresses. The properties check the module against an independent
 * model built on BigInt and regular expressions, not against itself.
 */

const RUNS = { numRuns: 300 };

// ---- The model -------------------------------------------------------------

type Family = 4 | 6;
const BITS: Record<Family, number> = { 4: 32, 6: 128 };
const MAPPED_HIGH = 0xffffn; // ::ffff:0:0/96 is 0xffff followed by 32 address bits

const toBig = (bytes: Uint8Array) => bytes.reduce((n, b) => (n << 8n) | BigInt(b), 0n);
const isMapped = (family: Family, n: bigint) => family === 6 && n >> 32n === MAPPED_HIGH;
const groupsOf = (n: bigint) => Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(112 - 16 * i)) & 0xffffn));
const dotted = (n: bigint) => [24n, 16n, 8n, 0n].map((s) => (n >> s) & 0xffn).join(".");

/** RFC 5952 text by regex over the uncompressed form: the longest run of 2+ zero groups, first on a tie, becomes "::". */
function canonical(family: Family, n: bigint): string {
  if (family === 4) return dotted(n);
  const full = groupsOf(n)
    .map((g) => g.toString(16))
    .join(":");
  let best: RegExpExecArray | undefined;
  for (const m of full.matchAll(/(?<![0-9a-f])0(?::0)+(?![0-9a-f])/g)) if (!best || m[0].length > best[0].length) best = m;
  if (!best) return full;
  return `${full.slice(0, best.index).replace(/:$/, "")}::${full.slice(best.index + best[0].length).replace(/^:/, "")}`;
}

type Spelling = "canonical" | "full" | "short" | "dotted";
/** Other valid spellings of the same IPv6 address (zero-padded, uncompressed, dotted tail, upper case). */
function spell(family: Family, n: bigint, how: Spelling, upper: boolean): string {
  if (family === 4) return dotted(n);
  const g = groupsOf(n);
  let text: string;
  if (how === "canonical") text = canonical(6, n);
  else if (how === "full") text = g.map((x) => x.toString(16).padStart(4, "0")).join(":");
  else if (how === "short") text = g.map((x) => x.toString(16)).join(":");
  else
    text = `${g
      .slice(0, 6)
      .map((x) => x.toString(16))
      .join(":")}:${dotted(n & 0xffffffffn)}`;
  return upper ? text.toUpperCase() : text;
}

interface Net {
  family: Family;
  network: bigint;
  prefix: number;
}

/** How the contract reads an entry: a range wholly inside ::ffff:0:0/96 is that IPv4 range. */
function effective(family: Family, address: bigint, prefix: number): Net {
  const host = BigInt(BITS[family] - prefix);
  const network = (address >> host) << host;
  if (family === 6 && prefix >= 96 && isMapped(6, network)) return { family: 4, network: network & 0xffffffffn, prefix: prefix - 96 };
  return { family, network, prefix };
}

function modelMatches(nets: readonly Net[], client: { family: Family; n: bigint } | null): boolean {
  if (nets.length === 0) return true;
  if (!client) return false;
  const c = isMapped(client.family, client.n) ? { family: 4 as const, n: client.n & 0xffffffffn } : client;
  return nets.some((e) => {
    if (e.family !== c.family) return false;
    const host = BigInt(BITS[e.family] - e.prefix);
    return c.n >> host === e.network >> host;
  });
}

// ---- Generators ------------------------------------------------------------

const v4Address = fc.bigInt({ min: 0n, max: 2n ** 32n - 1n });
// Uniform 128-bit values almost never hit the interesting corners, so bias towards them.
const v6Address = fc.oneof(
  fc.bigInt({ min: 0n, max: 2n ** 128n - 1n }),
  v4Address.map((v) => (MAPPED_HIGH << 32n) | v),
  fc.bigInt({ min: 0n, max: 2n ** 48n - 1n }),
  fc.bigInt({ min: 0n, max: 2n ** 16n - 1n }).map((v) => (0x20010db8n << 96n) | v),
);
const anyAddress = fc.oneof(
  v4Address.map((n) => ({ family: 4 as const, n })),
  v6Address.map((n) => ({ family: 6 as const, n })),
);
const spelling = fc.constantFrom<Spelling>("canonical", "full", "short", "dotted");

/** An entry as a user might write it: host bits possibly set, any spelling, bare or with a prefix, padded. */
const entryArb = fc
  .record({
    a: anyAddress,
    prefix: fc.integer({ min: 0, max: 128 }),
    how: spelling,
    upper: fc.boolean(),
    bare: fc.boolean(),
    pad: fc.constantFrom("", " ", "\t", " \n "),
  })
  .map(({ a, prefix, how, upper, bare, pad }) => {
    const p = Math.min(prefix, BITS[a.family]);
    const text = spell(a.family, a.n, how, upper);
    const usesBare = bare && p === BITS[a.family];
    return { text: `${pad}${usesBare ? text : `${text}/${p}`}${pad}`, net: effective(a.family, a.n, p) };
  });

const clientText = (family: Family, n: bigint, how: Spelling, upper: boolean) => spell(family, n, how, upper);

// ---- Addresses -------------------------------------------------------------

describe("parseIp / formatIp", () => {
  const ok: [string, string, Family][] = [
    ["0.0.0.0", "0.0.0.0", 4],
    ["255.255.255.255", "255.255.255.255", 4],
    ["203.0.113.7", "203.0.113.7", 4],
    ["10.0.100.0", "10.0.100.0", 4],
    ["::", "::", 6],
    ["::1", "::1", 6],
    ["2001:DB8::1", "2001:db8::1", 6],
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1", 6],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1", 6],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1", 6],
    ["1:0:0:2:0:0:0:3", "1:0:0:2::3", 6],
    ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0", 6],
    ["::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8", 6],
    ["fe80::1", "fe80::1", 6],
    ["64:ff9b::192.0.2.33", "64:ff9b::c000:221", 6],
    ["::1.2.3.4", "::102:304", 6],
    ["::ffff:0:1.2.3.4", "::ffff:0:102:304", 6],
    ["::ffff:203.0.113.7", "203.0.113.7", 4],
    ["::FFFF:CB00:7107", "203.0.113.7", 4],
    ["0:0:0:0:0:ffff:cb00:7107", "203.0.113.7", 4],
    ["0000:0000:0000:0000:0000:FFFF:203.0.113.7", "203.0.113.7", 4],
    ["::ffff:0.0.0.0", "0.0.0.0", 4],
  ];
  it.each(ok)("%s → %s", (input, text, family) => {
    const ip = parseIp(input);
    expect(ip?.family).toBe(family);
    expect(ip?.bytes.length).toBe(family === 4 ? 4 : 16);
    expect(formatIp(ip!)).toBe(text);
  });

  const bad = [
    "",
    " 1.2.3.4",
    "1.2.3.4 ",
    "1.2.3.4\n",
    "01.2.3.4",
    "1.2.3.04",
    "00.0.0.0",
    "0.0.0.00",
    "256.0.0.1",
    "1.2.3.2555",
    "1.2.3",
    "1.2.3.4.5",
    "1..2.3",
    "1.2.3.4.",
    ".1.2.3.4",
    "1.2.3.-4",
    "+1.2.3.4",
    "1.2.3.4/32",
    "0x7f.0.0.1",
    "127.1",
    "2130706433",
    "١.٢.٣.٤",
    "１.２.３.４",
    "1.2.3.4:80",
    "localhost",
    "fe80::1%eth0",
    "fe80::1%1",
    "1::2::3",
    ":::",
    ":",
    ":1::",
    "::1:",
    "1::2:",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7",
    "12345::",
    "::g",
    "1:2:3:4:5:6:7:8::",
    "::1:2:3:4:5:6:7:8",
    "1:2:3:4:5:6:7:1.2.3.4",
    "1:2:3:4:5:6::1.2.3.4",
    "1::3:4:5:6:7:8:1.2.3.4",
    "::ffff:01.2.3.4",
    "::ffff:1.2.3",
    "::ffff:256.1.1.1",
    "1.2.3.4::",
    "::1.2.3.4:5",
    "[::1]",
    "2001:db8::1 ",
    "2001:db8: :1",
    "2001:db8::\u00001",
    "::-1",
    "::+1",
    "0x1::",
    "2001:db8::/32",
    "::ffff:1.2.3.4.5",
  ];
  it.each(bad)("refuses %j", (input) => {
    expect(parseIp(input)).toBeNull();
  });

  it("refuses very long input without scanning it", () => {
    expect(parseIp("1".repeat(100_000))).toBeNull();
    expect(parseIp(`${"0:".repeat(50)}1`)).toBeNull();
  });

  it("format then parse round-trips, in RFC 5952 form (v4 and v6; mapped addresses fold to v4)", () => {
    fc.assert(
      fc.property(anyAddress, ({ family, n }) => {
        const len = family === 4 ? 4 : 16;
        const bytes = Uint8Array.from({ length: len }, (_, i) => Number((n >> BigInt(8 * (len - 1 - i))) & 0xffn));
        const folded = isMapped(family, n);
        const ip: ParsedIp = folded ? { family: 4, bytes: bytes.slice(12) } : { family, bytes };
        const text = formatIp(ip);
        expect(text).toBe(folded ? dotted(n & 0xffffffffn) : canonical(family, n));
        expect(parseIp(text)).toEqual(ip);
      }),
      RUNS,
    );
  });

  it("every valid spelling of an address parses to the same bytes and formats identically", () => {
    fc.assert(
      fc.property(anyAddress, spelling, fc.boolean(), ({ family, n }, how, upper) => {
        const ip = parseIp(spell(family, n, how, upper));
        expect(ip).not.toBeNull();
        const folded = isMapped(family, n);
        expect(ip!.family).toBe(folded ? 4 : family);
        expect(toBig(ip!.bytes)).toBe(folded ? n & 0xffffffffn : n);
        expect(formatIp(ip!)).toBe(folded ? dotted(n & 0xffffffffn) : canonical(family, n));
      }),
      RUNS,
    );
  });

  /** The grammar, written differently: split on "::" and ":", check each piece by regex. */
  function modelValid(s: string): boolean {
    const octet = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])";
    const v4 = new RegExp(`^${octet}(?:\\.${octet}){3}$`);
    if (!s.includes(":")) return v4.test(s);
    const halves = s.split("::");
    if (halves.length > 2) return false;
    const pieces = halves.map((h) => (h === "" ? [] : h.split(":")));
    const all = pieces.flat();
    let groups = 0;
    for (const [i, p] of all.entries()) {
      if (/^[0-9a-fA-F]{1,4}$/.test(p)) groups += 1;
      else if (i === all.length - 1 && v4.test(p) && (halves.length === 1 || pieces[1]!.length > 0)) groups += 2;
      else return false;
    }
    return halves.length === 2 ? groups <= 7 : groups === 8;
  }

  it("accepts exactly the strings the RFC 4291 grammar allows (differential, near-miss tokens)", () => {
    const token = fc.constantFrom(
      "::",
      ":",
      "0",
      "1",
      "00",
      "01",
      "ff",
      "FFFF",
      "fffff",
      "12345",
      "1.2.3.4",
      "255.255.255.255",
      "256.0.0.1",
      "01.2.3.4",
      ".",
      "%eth0",
      " ",
      "g",
      "/",
    );
    let accepted = 0;
    fc.assert(
      fc.property(fc.array(token, { maxLength: 12 }), (tokens) => {
        const s = tokens.join("");
        const ip = parseIp(s);
        expect(ip !== null, s).toBe(modelValid(s));
        if (ip) accepted++;
      }),
      { numRuns: 1500 },
    );
    expect(accepted).toBeGreaterThan(20);
  });
});

// ---- CIDRs -----------------------------------------------------------------

describe("parseCidr / formatCidr", () => {
  const ok: [string, string][] = [
    ["203.0.113.7", "203.0.113.7/32"],
    ["203.0.113.7/32", "203.0.113.7/32"],
    [" 10.1.2.3/8 \n", "10.0.0.0/8"],
    ["10.0.0.0/0", "0.0.0.0/0"],
    ["192.0.2.1/31", "192.0.2.0/31"],
    ["10.7.255.255/13", "10.0.0.0/13"],
    ["2001:DB8:1::/32", "2001:db8::/32"],
    ["2001:db8::1", "2001:db8::1/128"],
    ["2001:db8::1/127", "2001:db8::/127"],
    ["ffff::1/0", "::/0"],
    ["::/0", "::/0"],
    ["::ffff:203.0.113.7", "203.0.113.7/32"],
    ["::ffff:10.1.2.3/104", "10.0.0.0/8"],
    ["::ffff:0:0/96", "0.0.0.0/0"],
    ["::ffff:0:0/95", "::fffe:0:0/95"],
    ["::ffff:1.2.3.4/64", "::/64"],
    ["::1.2.3.4/128", "::102:304/128"],
  ];
  it.each(ok)("%j → %s", (input, text) => {
    const c = parseCidr(input);
    expect(c).not.toBeNull();
    expect(formatCidr(c!)).toBe(text);
  });

  const bad = [
    "10.0.0.0/33",
    "::/129",
    "10.0.0.0/08",
    "10.0.0.0/+8",
    "10.0.0.0/-1",
    "10.0.0.0/",
    "10.0.0.0/8/8",
    "/8",
    "10.0.0.0 /8",
    "10.0.0.0/ 8",
    "10.0.0.0/8.0",
    "10.0.0.0/0x8",
    "1.2.3.4/1000",
    "::/0128",
    "fe80::1%eth0/64",
    "fe80::/64%eth0",
    "01.0.0.0/8",
    "10.0.0.0/8,10.0.0.0/9",
    "",
    " ",
    "10.0.0.0\t/8",
    "::ffff:1.2.3.4/129",
    "any",
    "*",
  ];
  it.each(bad)("refuses %j", (input) => {
    expect(parseCidr(input)).toBeNull();
  });

  it("normalises to the model's network in canonical text, idempotently", () => {
    fc.assert(
      fc.property(entryArb, ({ text, net }) => {
        const c = parseCidr(text);
        expect(c, text).not.toBeNull();
        const normal = formatCidr(c!);
        expect(normal).toBe(`${canonical(net.family, net.network)}/${net.prefix}`);
        expect(formatCidr(parseCidr(normal)!)).toBe(normal);
        expect(toBig(c!.bytes)).toBe(net.network);
      }),
      RUNS,
    );
  });
});

// ---- Matching --------------------------------------------------------------

describe("allowlistMatches", () => {
  const cases: [string, string[], (string | null | undefined)[], (string | null | undefined)[]][] = [
    [
      "v4 /24",
      ["203.0.113.0/24"],
      ["203.0.113.0", "203.0.113.7", "203.0.113.255", "::ffff:203.0.113.7", "::ffff:cb00:7107", "::FFFF:CB00:7107"],
      [
        "203.0.114.0",
        "203.0.112.255",
        "2001:db8::1",
        "::cb00:7107",
        "::ffff:0:cb00:7107",
        "203.0.113.07",
        " 203.0.113.7",
        "203.0.113.7/32",
        "203.0.113.7%eth0",
      ],
    ],
    ["v4 /32 (bare)", ["203.0.113.7"], ["203.0.113.7", "::ffff:203.0.113.7"], ["203.0.113.6", "203.0.113.8", "::203.0.113.7"]],
    ["v4 /31", ["192.0.2.8/31"], ["192.0.2.8", "192.0.2.9"], ["192.0.2.7", "192.0.2.10"]],
    ["v4 /0", ["0.0.0.0/0"], ["0.0.0.0", "1.2.3.4", "255.255.255.255", "::ffff:1.2.3.4"], ["::", "::1", "2001:db8::1", "::1.2.3.4"]],
    ["v4 sign bit", ["128.0.0.0/1"], ["128.0.0.0", "200.0.0.1", "255.255.255.255"], ["127.255.255.255", "0.0.0.0"]],
    ["v4 /13", ["10.0.0.0/13"], ["10.7.255.255"], ["10.8.0.0", "9.255.255.255"]],
    [
      "v6 /32",
      ["2001:db8::/32"],
      ["2001:db8::", "2001:DB8:FFFF::1", "2001:0db8:0:0:0:0:0:1"],
      ["2001:db9::", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "fe80::1%eth0"],
    ],
    ["v6 /128", ["2001:db8::1/128"], ["2001:DB8:0:0:0:0:0:1"], ["2001:db8::2", "2001:db8::"]],
    ["v6 /127", ["2001:db8::/127"], ["2001:db8::", "2001:db8::1"], ["2001:db8::2", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"]],
    [
      "v6 /0",
      ["::/0"],
      ["::", "::1", "2001:db8::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::1.2.3.4"],
      ["1.2.3.4", "::ffff:1.2.3.4", "0.0.0.0"],
    ],
    ["v6 sign bits", ["8000::/1", "::8000:0:0:0/65"], ["ffff::1", "::8000:0:0:1"], ["7fff::", "::7fff:0:0:0"]],
    ["v6 across a word", ["2001:db8:0:8000::/49"], ["2001:db8:0:ffff::1"], ["2001:db8:0:7fff::1", "2001:db8:1::"]],
    ["mapped entry = v4", ["::ffff:0:0/96"], ["1.2.3.4", "::ffff:1.2.3.4"], ["::1", "::1.2.3.4"]],
    ["loopbacks stay apart", ["::1", "127.0.0.1"], ["::1", "127.0.0.1", "::ffff:127.0.0.1"], ["127.0.0.2", "::2"]],
    [
      "mixed list",
      ["10.0.0.0/8", "2001:db8::/32", "203.0.113.7"],
      ["10.255.0.1", "2001:db8::5", "203.0.113.7"],
      ["11.0.0.0", "2001:db9::", undefined, null, "", "garbage"],
    ],
  ];
  describe.each(cases)("%s", (_name, entries, allowed, refused) => {
    const matcher = compileAllowlist(entries);
    it.each(allowed)("allows %j", (ip) => expect(allowlistMatches(matcher, ip)).toBe(true));
    it.each([...refused, undefined, null, "", "garbage", "::ffff:999.0.0.1"])("refuses %j", (ip) =>
      expect(allowlistMatches(matcher, ip)).toBe(false),
    );
  });

  it("an empty allowlist allows any address, even a missing or malformed one", () => {
    const matcher = compileAllowlist([]);
    for (const ip of ["1.2.3.4", "::1", undefined, null, "", "garbage"]) expect(allowlistMatches(matcher, ip)).toBe(true);
  });

  it("compileAllowlist throws on an entry parseCidr refuses", () => {
    expect(() => compileAllowlist(["10.0.0.0/8", "10.0.0.0/33"])).toThrow(/entry 1/);
    expect(() => compileAllowlist(["01.2.3.4"])).toThrow();
  });

  it("every address inside a CIDR matches it, in any spelling (IPv6 ranges never match IPv4-mapped clients)", () => {
    const big = fc.bigInt({ min: 0n, max: 2n ** 128n - 1n });
    fc.assert(
      fc.property(entryArb, big, spelling, fc.boolean(), ({ text, net }, r, how, upper) => {
        const size = 1n << BigInt(BITS[net.family] - net.prefix);
        const n = net.network + (r % size);
        const matcher = compileAllowlist([text]);
        // A v4 range is also reached by its clients in IPv4-mapped form.
        const spellings =
          net.family === 4
            ? [dotted(n), `::ffff:${dotted(n)}`, spell(6, (MAPPED_HIGH << 32n) | n, how, upper)]
            : [clientText(6, n, how, upper)];
        const expected = modelMatches([net], { family: net.family, n });
        expect(expected || (net.family === 6 && isMapped(6, n))).toBe(true);
        for (const s of spellings) expect(allowlistMatches(matcher, s), `${text} ∋ ${s}`).toBe(expected);
      }),
      RUNS,
    );
  });

  it("the addresses just before and just after a CIDR do not match it", () => {
    fc.assert(
      fc.property(entryArb, spelling, fc.boolean(), ({ text, net }, how, upper) => {
        const bits = BITS[net.family];
        const size = 1n << BigInt(bits - net.prefix);
        const matcher = compileAllowlist([text]);
        const neighbours = [net.network - 1n, net.network + size].filter((n) => n >= 0n && n < 1n << BigInt(bits));
        for (const n of neighbours) {
          expect(allowlistMatches(matcher, clientText(net.family, n, how, upper)), `${text} ∌ ${n}`).toBe(false);
          if (net.family === 4) expect(allowlistMatches(matcher, `::ffff:${dotted(n)}`)).toBe(false);
        }
      }),
      RUNS,
    );
  });

  it("agrees with the model for lists of up to 20 entries and arbitrary clients", () => {
    const client = fc.oneof(
      anyAddress.map((a) => ({ ...a, text: spell(a.family, a.n, "short", false) as string | null })),
      fc.constantFrom({ family: 4 as const, n: 0n, text: null }, { family: 4 as const, n: 0n, text: "not an ip" }),
    );
    fc.assert(
      fc.property(fc.array(entryArb, { maxLength: MAX_IP_ALLOWLIST_ENTRIES }), client, (entries, c) => {
        const matcher = compileAllowlist(entries.map((e) => e.text));
        const model = modelMatches(
          entries.map((e) => e.net),
          c.text === null || c.text === "not an ip" ? null : c,
        );
        expect(allowlistMatches(matcher, c.text)).toBe(model);
      }),
      RUNS,
    );
  });
});

// ---- The request-body schema ----------------------------------------------

describe("IpAllowlistSchema", () => {
  const Body = z.object({ ipAllowlist: IpAllowlistSchema });

  it("normalises entries and drops duplicates, first occurrence first", () => {
    const r = Body.parse({
      ipAllowlist: ["10.1.2.3/8", " 203.0.113.7 ", "2001:DB8::/32", "10.0.0.0/8", "::ffff:203.0.113.7", "2001:db8:0::/32"],
    });
    expect(r.ipAllowlist).toEqual(["10.0.0.0/8", "203.0.113.7/32", "2001:db8::/32"]);
    expect(Body.parse({ ipAllowlist: [] }).ipAllowlist).toEqual([]);
  });

  it("reports a bad entry at its index, for problem+json errors", () => {
    const r = Body.safeParse({ ipAllowlist: ["10.0.0.0/8", "::1", "2001:db8::/32", "01.2.3.4", "fe80::1%eth0"] });
    expect(r.success).toBe(false);
    expect(fieldErrors(r.error!)).toEqual([
      { path: "ipAllowlist.3", message: 'Not an IPv4/IPv6 address or CIDR: "01.2.3.4"' },
      { path: "ipAllowlist.4", message: 'Not an IPv4/IPv6 address or CIDR: "fe80::1%eth0"' },
    ]);
  });

  it("refuses non-strings at their index and more than 20 entries at the field", () => {
    const r = Body.safeParse({ ipAllowlist: ["10.0.0.0/8", 42] });
    expect(fieldErrors(r.error!).map((e) => e.path)).toEqual(["ipAllowlist.1"]);
    const tooMany = Array.from({ length: MAX_IP_ALLOWLIST_ENTRIES + 1 }, (_, i) => `10.0.${i}.0/24`);
    expect(fieldErrors(Body.safeParse({ ipAllowlist: tooMany }).error!)).toEqual([{ path: "ipAllowlist", message: "At most 20 entries." }]);
    expect(Body.safeParse({ ipAllowlist: tooMany.slice(1) }).success).toBe(true);
    expect(Body.safeParse({ ipAllowlist: "10.0.0.0/8" }).success).toBe(false);
  });

  it("never echoes a whole pasted key back in the error", () => {
    const key = generateKey();
    const [error] = fieldErrors(Body.safeParse({ ipAllowlist: [key] }).error!);
    expect(error?.path).toBe("ipAllowlist.0");
    expect(error?.message).not.toContain(key);
    expect(error?.message).toContain(key.slice(0, 12));
  });

  it("output is a fixed point: parsing normalised entries again changes nothing", () => {
    fc.assert(
      fc.property(fc.array(entryArb, { maxLength: MAX_IP_ALLOWLIST_ENTRIES }), (entries) => {
        const once = IpAllowlistSchema.parse(entries.map((e) => e.text));
        expect(IpAllowlistSchema.parse(once)).toEqual(once);
        expect(new Set(once).size).toBe(once.length);
        expect(once).toEqual([...new Set(entries.map((e) => `${canonical(e.net.family, e.net.network)}/${e.net.prefix}`))]);
      }),
      RUNS,
    );
  });

  it("documents itself in OpenAPI as an array of at most 20 strings with an example", () => {
    const app = new OpenAPIHono();
    app.openapi(
      createRoute({
        method: "post",
        path: "/x",
        request: { body: { content: { "application/json": { schema: Body } } } },
        responses: { 204: { description: "ok" } },
      }),
      (c) => c.body(null, 204),
    );
    const doc = app.getOpenAPI31Document({ openapi: "3.1.0", info: { title: "t", version: "1" } }) as Json;
    const schema = doc.paths["/x"].post.requestBody.content["application/json"].schema.properties.ipAllowlist;
    expect(schema).toMatchObject({ type: "array", maxItems: 20, items: { type: "string" } });
    expect(schema.description).toMatch(/IPv4/);
    expect(schema.example).toEqual(["203.0.113.7", "198.51.100.0/24", "2001:db8::/32"]);
  });
});
