// Bench-only worker: N SHA-256s of a fresh key per request, with @noble/hashes
// (what src/keys/format/hash.ts uses) or WebCrypto, so the load generator can compare
// their cost inside workerd. Timers do not advance during CPU work in workerd,
// so the comparison is made from outside, as requests per second.

import { hashKey } from "../../src/keys/format/hash";
import { generateKey } from "../../src/keys/format/key";

const hex = (buf: ArrayBuffer) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const n = Math.min(Number(url.searchParams.get("n") ?? "100"), 10_000);
    const key = generateKey();
    let last = "";
    if (url.pathname === "/noble") {
      for (let i = 0; i < n; i++) last = hashKey(key);
    } else if (url.pathname === "/subtle") {
      const bytes = new TextEncoder().encode(key);
      for (let i = 0; i < n; i++) last = hex(await crypto.subtle.digest("SHA-256", bytes));
    } else if (url.pathname === "/check") {
      return new Response(String(hashKey(key) === hex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key)))));
    }
    return new Response(last.slice(0, 8));
  },
};
