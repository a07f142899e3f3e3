import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";
import { z } from "zod";
import { BoundedMap } from "../lib/bounded-map";
import { errorMessage, log } from "../lib/log";

/**
 * GitHub's secret scanning public keys, by key identifier (the
 * `Github-Public-Key-Identifier` header).
 *
 * Either from the SECRET_SCANNING_PUBLIC_KEYS var (the document as GitHub
 * serves it, pinned: nothing is fetched), or fetched from
 * SECRET_SCANNING_KEYS_URL and cached in KV for an hour. An identifier missing
 * from the cached document triggers one fresh fetch, because GitHub may have
 * rotated keys since we cached; unknown identifiers come from anyone on the
 * internet, though, so such refetches are throttled (see MIN_REFETCH_INTERVAL_MS).
 */

export const DEFAULT_PUBLIC_KEYS_URL = "https://api.github.com/meta/public_keys/secret_scanning";
const PUBLIC_KEYS_CACHE_PREFIX = "secret-scanning:github-public-keys";
export const PUBLIC_KEYS_TTL_SECONDS = 3_600;
const FETCH_TIMEOUT_MS = 5_000;
/**
 * A copy of the document younger than this is not refetched for an unknown
 * identifier: it is as good as a fresh one. Without it every request with a
 * made-up identifier would cost a request to GitHub (whose unauthenticated
 * rate limit is per egress IP) and let anyone spend that limit for us.
 */
const MIN_REFETCH_INTERVAL_MS = 60_000;
/** GitHub's document is ~1 KiB; anything much bigger is not it. */
const MAX_DOCUMENT_BYTES = 64 * 1024;

const MAX_IDENTIFIER_LENGTH = 512;
const USER_AGENT = "owlish-keys-secret-scanning";

/** The keys could not be obtained (network, HTTP status, bad document): answer 503 so GitHub retries. */
export class PublicKeysUnavailable extends Error {
  override readonly name = "PublicKeysUnavailable";
}

export interface PublicKeySource {
  /** The PEM of the key with this identifier, or null when GitHub does not list it. */
  keyFor(identifier: string): Promise<string | null>;
}

export interface PublicKeySourceOptions {
  /** SECRET_SCANNING_PUBLIC_KEYS: the keys document (or its JSON text); when set (non-blank), nothing is fetched. */
  inline?: string | PublicKeysDocument | undefined;
  /** SECRET_SCANNING_KEYS_URL, normally DEFAULT_PUBLIC_KEYS_URL. */
  url: string;
  cache: KVNamespace;
  fetch?: typeof fetch;
  /** For tests: the clock, fetch timeout and refetch throttle. */
  now?: () => number;
  timeoutMs?: number;
  minRefetchIntervalMs?: number;
}

const PublicKeysDocument = z.object({
  public_keys: z
    .array(
      z.object({
        key_identifier: z.string().min(1).max(MAX_IDENTIFIER_LENGTH),
        key: z.string().min(1).max(4_096),
        // Not consulted: during a rotation GitHub signs with any listed key and
        // the identifier header says which; a non-current key still verifies.
        is_current: z.boolean().optional(),
      }),
    )
    // An empty list can only be a fault upstream or in our config; treating
    // it as unusable (503 / config error) beats caching it for an hour.
    .min(1)
    .max(100),
});
export type PublicKeysDocument = z.infer<typeof PublicKeysDocument>;

const CachedDocument = z.object({ fetchedAt: z.number(), document: PublicKeysDocument });
type CachedDocument = z.infer<typeof CachedDocument>;

// In-isolate state, per URL: one fetch at a time (concurrent misses share it)
// and when this isolate last forced a refetch, which still throttles when KV
// serves an older copy than the one we just wrote (reads are edge-cached).
const MAX_TRACKED_URLS = 8;
const inflight = new BoundedMap<string, Promise<PublicKeysDocument>>({ maxEntries: MAX_TRACKED_URLS });
const lastRefetchAt = new BoundedMap<string, number>({ maxEntries: MAX_TRACKED_URLS });

/** The KV key of a URL's document: a hash, so any URL fits KV's 512-byte limit and a changed URL never reads the old one's copy. */
export function publicKeysCacheKey(url: string): string {
  return `${PUBLIC_KEYS_CACHE_PREFIX}:${bytesToHex(sha256(utf8ToBytes(url))).slice(0, 32)}`;
}

/** Throws at construction when `inline` is text that is not a valid document (see parsePublicKeysDocument). */
export function createPublicKeySource(options: PublicKeySourceOptions): PublicKeySource {
  const inline = typeof options.inline === "string" && options.inline.trim() === "" ? undefined : options.inline;
  if (inline !== undefined) {
    const document = typeof inline === "string" ? parsePublicKeysDocument(inline) : inline;
    return { keyFor: async (identifier) => find(document, identifier) };
  }
  return new FetchedKeys(options);
}

/** Where the keys come from, as AppOptions holds it: the pinned document, or the URL to fetch it from. */
export interface PublicKeysConfig {
  document: PublicKeysDocument | null;
  url: string;
}

const sources = new WeakMap<KVNamespace, { config: PublicKeysConfig; source: PublicKeySource }>();

/** The isolate's source for this configuration and KV namespace, built once (options are parsed once per isolate). */
export function publicKeySource(config: PublicKeysConfig, cache: KVNamespace): PublicKeySource {
  const held = sources.get(cache);
  if (held?.config === config) return held.source;
  const source = createPublicKeySource({ inline: config.document ?? undefined, url: config.url, cache });
  sources.set(cache, { config, source });
  return source;
}

/**
 * SECRET_SCANNING_PUBLIC_KEYS, parsed. A malformed document is a deployment
 * mistake: the Error names the variable (the options parser turns it into a
 * refusal of the configuration, so the worker answers 503 and says why in
 * the log), instead of every GitHub report being refused as unsigned.
 */
export function parsePublicKeysDocument(text: string): PublicKeysDocument {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error("SECRET_SCANNING_PUBLIC_KEYS is not valid JSON");
  }
  const parsed = PublicKeysDocument.safeParse(json);
  if (!parsed.success) {
    throw new Error(`SECRET_SCANNING_PUBLIC_KEYS is not a public keys document: ${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}

function find(document: PublicKeysDocument, identifier: string): string | null {
  return document.public_keys.find((k) => k.key_identifier === identifier)?.key ?? null;
}

class FetchedKeys implements PublicKeySource {
  private readonly cacheKey: string;
  private readonly fetcher: typeof fetch;
  private readonly now: () => number;

  constructor(private readonly options: PublicKeySourceOptions) {
    this.cacheKey = publicKeysCacheKey(options.url);
    // Wrapped, not stored bare: the runtime's fetch called as a method of
    // another object throws "Illegal invocation".
    this.fetcher = options.fetch ?? ((input, init) => fetch(input, init));
    this.now = options.now ?? Date.now;
  }

  async keyFor(identifier: string): Promise<string | null> {
    // The document's identifiers are 1–512 characters: nothing else can match,
    // so such a header costs neither a KV read nor a fetch.
    if (identifier.length === 0 || identifier.length > MAX_IDENTIFIER_LENGTH) return null;
    const cached = await this.readCache();
    if (!cached) {
      // Just fetched: a second fetch could not know more.
      return find(await this.fetchShared(), identifier);
    }
    const key = find(cached.document, identifier);
    if (key !== null) return key;

    // Unknown identifier: refetch once, unless our copy (or this isolate's
    // last refetch) is recent enough that GitHub cannot have rotated since.
    const interval = this.options.minRefetchIntervalMs ?? MIN_REFETCH_INTERVAL_MS;
    const newest = Math.max(cached.fetchedAt, lastRefetchAt.get(this.options.url) ?? -Infinity);
    if (this.now() - newest < interval) return null;
    lastRefetchAt.set(this.options.url, this.now());
    return find(await this.fetchShared(), identifier);
  }

  private async readCache(): Promise<CachedDocument | null> {
    try {
      const value = await this.options.cache.get<unknown>(this.cacheKey, { type: "json" });
      if (value === null) return null;
      const parsed = CachedDocument.safeParse(value);
      if (parsed.success) return parsed.data;
      log("warn", "secret_scanning_keys_cache_invalid", {});
      return null;
    } catch (error) {
      // KV is only a cache: when it fails, GitHub answers.
      log("warn", "secret_scanning_keys_cache_read_failed", { error: errorMessage(error) });
      return null;
    }
  }

  private fetchShared(): Promise<PublicKeysDocument> {
    const url = this.options.url;
    let pending = inflight.get(url);
    if (!pending) {
      pending = this.fetchAndStore().finally(() => {
        if (inflight.get(url) === pending) inflight.delete(url);
      });
      inflight.set(url, pending);
    }
    return pending;
  }

  private async fetchAndStore(): Promise<PublicKeysDocument> {
    const document = await this.fetchDocument();
    const entry: CachedDocument = { fetchedAt: this.now(), document };
    try {
      await this.options.cache.put(this.cacheKey, JSON.stringify(entry), { expirationTtl: PUBLIC_KEYS_TTL_SECONDS });
    } catch (error) {
      // We have the keys; failing to cache them only costs a fetch next time.
      log("warn", "secret_scanning_keys_cache_write_failed", { error: errorMessage(error) });
    }
    return document;
  }

  private async fetchDocument(): Promise<PublicKeysDocument> {
    const url = this.options.url;
    let response: Response;
    try {
      response = await this.fetcher(url, {
        headers: { "User-Agent": USER_AGENT, Accept: "application/json" },
        // A hung GitHub must not hang the request; GitHub retries on 503.
        signal: AbortSignal.timeout(this.options.timeoutMs ?? FETCH_TIMEOUT_MS),
      });
    } catch (error) {
      throw this.unavailable(`fetch failed: ${errorMessage(error)}`, error);
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw this.unavailable(`HTTP ${response.status}`);
    }
    // Refuse a huge body before reading it, when its length is announced.
    if (Number(response.headers.get("Content-Length") ?? 0) > MAX_DOCUMENT_BYTES) {
      await response.body?.cancel();
      throw this.unavailable("document too large");
    }
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw this.unavailable(`reading the body failed: ${errorMessage(error)}`, error);
    }
    if (text.length > MAX_DOCUMENT_BYTES) throw this.unavailable("document too large");
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw this.unavailable("invalid JSON");
    }
    const parsed = PublicKeysDocument.safeParse(json);
    if (!parsed.success) throw this.unavailable("not a public keys document");
    return parsed.data;
  }

  private unavailable(reason: string, cause?: unknown): PublicKeysUnavailable {
    // The URL and reason only: the document holds public keys, and no request
    // data (token, signature) ever reaches this module.
    log("warn", "secret_scanning_keys_unavailable", { url: this.options.url, reason });
    return new PublicKeysUnavailable(`GitHub public keys unavailable (${reason})`, { cause });
  }
}
