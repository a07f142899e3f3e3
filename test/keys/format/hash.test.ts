import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hashKey } from "../../../src/keys/format/hash";
import { generateKey } from "../../../src/keys/format/key";

async function webCryptoSha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

describe("hashKey", () => {
  it("is the hex SHA-256 of the key's UTF-8, for keys and for any other string", async () => {
    const text = fc.oneof(
      fc.constant(null).map(() => generateKey()),
      fc.string({ unit: "binary-ascii", maxLength: 200 }),
      // Non-ASCII, lone surrogates included (both sides encode them as U+FFFD).
      fc.string({ unit: "binary", maxLength: 80 }),
      fc.tuple(fc.string({ unit: "binary-ascii", maxLength: 60 }), fc.constantFrom("é", "\u0080", "😀", "\ud800")).map(([a, b]) => a + b),
    );
    await fc.assert(
      fc.asyncProperty(text, async (s) => {
        expect(hashKey(s)).toBe(await webCryptoSha256Hex(s));
      }),
      { numRuns: 300 },
    );
  });
});
