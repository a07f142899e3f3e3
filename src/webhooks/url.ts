import { type ParsedIp, parseIp } from "../lib/ip";

export const MAX_URL_LENGTH = 2_000;

/**
 * Why a webhook URL is refused, or null when it may be used. Production
 * rules: `https://` only, at most 2 000 characters, no user name or password
 * in it, and a host that is neither `localhost` (nor a name under it) nor an
 * IP literal of a private, loopback, link-local, unspecified, shared (CGNAT),
 * multicast or reserved range. With `allowLocal` (WEBHOOK_ALLOW_LOCAL_URLS,
 * local config only) `http://` and loopback targets are accepted too, so a
 * receiver on the developer's machine can be tried under `npm run dev`.
 *
 * A host *name* is not resolved here: one that resolves to such an address
 * is refused by Cloudflare when the delivery is fetched (Workers cannot reach
 * private networks), and the attempt fails like any unreachable receiver.
 * The URL is checked as the WHATWG parser reads it, so the forms that end up
 * at 127.0.0.1 (`2130706433`, `0x7f.1`, `[::ffff:7f00:1]`) are caught.
 */
export function urlRefusal(raw: string, allowLocal: boolean): string | null {
  if (raw.length > MAX_URL_LENGTH) return `The URL must be at most ${MAX_URL_LENGTH} characters.`;
  if (!URL.canParse(raw)) return "Not a valid URL.";
  const url = new URL(raw);
  if (url.protocol !== "https:" && !(allowLocal && url.protocol === "http:")) {
    return allowLocal ? "The URL must start with https:// or http://." : "The URL must start with https://.";
  }
  if (url.username !== "" || url.password !== "") return "The URL must not contain a user name or password.";
  const host = url.hostname.replace(/\.$/, "");
  if (host === "localhost" || host.endsWith(".localhost")) {
    return allowLocal ? null : "The URL's host must not be localhost.";
  }
  const ip = parseIp(host.startsWith("[") ? host.slice(1, -1) : host);
  if (ip === null) return null;
  const range = nonPublicRange(ip);
  if (range === null) return null;
  if (allowLocal && range === "loopback") return null;
  return `The URL's host is a ${range} address; webhooks go to public addresses only.`;
}

/** The kind of non-public range an address is in, or null for a public one. Mapped IPv6 arrives as IPv4 (parseIp). */
function nonPublicRange({ family, bytes: b }: ParsedIp): string | null {
  const [a = 0, c = 0] = [b[0], b[1]];
  if (family === 4) {
    if (a === 127) return "loopback";
    if (a === 10 || (a === 172 && c >= 16 && c <= 31) || (a === 192 && c === 168)) return "private";
    if (a === 169 && c === 254) return "link-local";
    if (a === 100 && c >= 64 && c <= 127) return "shared (carrier-grade NAT)";
    if (a === 0) return "unspecified";
    if (a >= 224) return "multicast or reserved";
    return null;
  }
  if (b.every((x, i) => x === (i === 15 ? 1 : 0))) return "loopback";
  if (b.every((x) => x === 0)) return "unspecified";
  if ((a & 0xfe) === 0xfc) return "private (unique local)";
  if (a === 0xfe && (c & 0xc0) === 0x80) return "link-local";
  if (a === 0xff) return "multicast";
  return null;
}
