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
 * internet, though, so fetches are throttled whatever their outcome (see
 * MIN_FETCH_INTERVAL_MS).
 */

export const DEFAULT_PUBLIC_KEYS_URL = "https://api.github.com/meta/public_keys/secret_scanning";
const PUBLIC_KEYS_CACHE_PREFIX = "secret-scanning:github-public-keys";
export const PUBLIC_KEYS_TTL_SECONDS = 3_600;
const FETCH_TIMEOUT_MS = 5_000;
/**
 * At most one fetch of the document per this interval, per isolate and, where
 * KV works, per location, whatever the identifiers, the outcome or the
 * concurrency: a copy younger than this is as good as a fresh one, and a
 * failed fetch is remembered for as long (in the isolate, and in KV for the
 * location's other isolates), its reports answered 503 so GitHub retries.
 * Without it every request with a made-up identifier, or every report while
 * GitHub or KV fails, would cost a request to GitHub (whose unauthenticated
 * rate limit is per egress IP) and let anyone spend that limit for us.
 */
export const MIN_FETCH_INTERVAL_MS = 60_000;
/** GitHub's document is ~1 KiB; anything much bigger is not it. */
const MAX_DOCUMENT_BYTES = 64 * 1024;

const MAX_IDENTIFIER_LENGTH = 512;
const USER_AGENT = "owlish-keys-secret-scanning";

/** The keys could not be obtained (network, HTTP status, bad document): answer 503 so GitHub retries. */
export class PublicKeysUnavailable extends Error {
  override readonly name = "PublicKeysUnavailable";
  /** When a fetch may be tried again (a failure is remembered for the interval); 1 s when one may be tried at once. */
  readonly retryAfterSeconds: number;

  constructor(message: string, options: { cause?: unknown; retryAfterSeconds?: number } = {}) {
    super(message, { cause: options.cause });
    this.retryAfterSeconds = options.retryAfterSeconds ?? 1;
  }
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
  /** For tests: the clock, fetch timeout and fetch throttle, and another isolate's memory. */
  now?: () => number;
  timeoutMs?: number;
  minFetchIntervalMs?: number;
  memory?: FetchMemory;
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

/** KV's note, next to the document, that a fetch failed: the location's other isolates then wait too. */
const FailureNote = z.object({ failedAt: z.number() });

/** This isolate's last fetch of a URL's document. */
interface LastFetch {
  /** When it started (or, learnt from KV, when another isolate's failed). */
  at: number;
  failed: boolean;
  /** The newest document this isolate fetched, kept here too: KV may have failed to store it, or serve an older copy. */
  kept?: CachedDocument | undefined;
}

const MAX_TRACKED_URLS = 8;

/**
 * What an isolate remembers, per URL: the fetch in flight (concurrent misses
 * share it) and its last fetch, which throttles the next one whatever KV
 * does (reads are edge-cached, writes may fail).
 */
export class FetchMemory {
  readonly inflight = new BoundedMap<string, Promise<PublicKeysDocument>>({ maxEntries: MAX_TRACKED_URLS });
  readonly last = new BoundedMap<string, LastFetch>({ maxEntries: MAX_TRACKED_URLS });
}
const isolateMemory = new FetchMemory();

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

/** The scheme, host and port of a URL, for the logs. */
function originOf(url: string): string {
  return URL.canParse(url) ? new URL(url).origin : "(not a URL)";
}

function find(document: PublicKeysDocument, identifier: string): string | null {
  return document.public_keys.find((k) => k.key_identifier === identifier)?.key ?? null;
}

class FetchedKeys implements PublicKeySource {
  private readonly cacheKey: string;
  private readonly failureKey: string;
  private readonly fetcher: typeof fetch;
  private readonly now: () => number;
  private readonly interval: number;
  private readonly memory: FetchMemory;

  constructor(private readonly options: PublicKeySourceOptions) {
    this.cacheKey = publicKeysCacheKey(options.url);
    this.failureKey = `${this.cacheKey}:failed`;
    // Wrapped, not stored bare: the runtime's fetch called as a method of
    // another object throws "Illegal invocation".
    this.fetcher = options.fetch ?? ((input, init) => fetch(input, init));
    this.now = options.now ?? (() => Date.now());
    this.interval = options.minFetchIntervalMs ?? MIN_FETCH_INTERVAL_MS;
    this.memory = options.memory ?? isolateMemory;
  }

  async keyFor(identifier: string): Promise<string | null> {
    // The document's identifiers are 1–512 characters: nothing else can match,
    // so such a header costs neither a KV read nor a fetch.
    if (identifier.length === 0 || identifier.length > MAX_IDENTIFIER_LENGTH) return null;
    const held = this.newest(await this.readCache());
    const key = held ? find(held.document, identifier) : null;
    if (key !== null) return key;
    // No document, or one without this identifier: GitHub may have rotated since.
    const fresh = await this.refresh(held);
    return fresh ? find(fresh, identifier) : null;
  }

  /** The newer of KV's copy and the one this isolate fetched last (while it is within the TTL). */
  private newest(fromKv: CachedDocument | null): CachedDocument | null {
    const kept = this.memory.last.get(this.options.url)?.kept;
    if (!kept || this.now() - kept.fetchedAt >= PUBLIC_KEYS_TTL_SECONDS * 1000) return fromKv;
    return fromKv && fromKv.fetchedAt >= kept.fetchedAt ? fromKv : kept;
  }

  /**
   * A fresher document than `held`, or null when there is none to be had
   * (`held` is recent enough that GitHub cannot have rotated since). Fetches
   * at most once per interval; throws PublicKeysUnavailable when that fetch
   * fails, and for the rest of the interval after it without fetching.
   */
  private async refresh(held: CachedDocument | null): Promise<PublicKeysDocument | null> {
    if (held && this.now() - held.fetchedAt < this.interval) return null;
    const url = this.options.url;
    const pending = this.memory.inflight.get(url);
    if (pending) return pending;
    const last = this.memory.last.get(url);
    if (last && this.now() - last.at < this.interval) {
      if (last.failed) throw this.stillUnavailable(last.at);
      // Fetched a moment ago, after our KV read: that document is the freshest there is.
      return last.kept?.document ?? null;
    }
    const started = this.attempt().finally(() => {
      if (this.memory.inflight.get(url) === started) this.memory.inflight.delete(url);
    });
    this.memory.inflight.set(url, started);
    return started;
  }

  /** One fetch (unless another isolate of this location failed within the interval), its outcome remembered here and in KV. */
  private async attempt(): Promise<PublicKeysDocument> {
    const url = this.options.url;
    const kept = this.memory.last.get(url)?.kept;
    const failedAt = await this.readFailure();
    if (failedAt !== null && this.now() - failedAt < this.interval) {
      this.memory.last.set(url, { at: failedAt, failed: true, kept });
      throw this.stillUnavailable(failedAt);
    }
    const at = this.now();
    this.memory.last.set(url, { at, failed: false, kept });
    let document: PublicKeysDocument;
    try {
      document = await this.fetchDocument();
    } catch (error) {
      this.memory.last.set(url, { at, failed: true, kept });
      await this.writeFailure(at);
      throw error;
    }
    const entry: CachedDocument = { fetchedAt: this.now(), document };
    this.memory.last.set(url, { at, failed: false, kept: entry });
    await this.writeCache(entry);
    return document;
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

  private async writeCache(entry: CachedDocument): Promise<void> {
    try {
      await this.options.cache.put(this.cacheKey, JSON.stringify(entry), { expirationTtl: PUBLIC_KEYS_TTL_SECONDS });
    } catch (error) {
      // We have the keys (and this isolate keeps them); failing to cache them costs other isolates a fetch.
      log("warn", "secret_scanning_keys_cache_write_failed", { error: errorMessage(error) });
    }
  }

  /** When another isolate's fetch failed, as KV says; null when it says nothing or cannot be read (this isolate's memory still throttles). */
  private async readFailure(): Promise<number | null> {
    try {
      const parsed = FailureNote.safeParse(await this.options.cache.get<unknown>(this.failureKey, { type: "json" }));
      return parsed.success ? parsed.data.failedAt : null;
    } catch {
      return null; // the document's read has said that KV fails
    }
  }

  private async writeFailure(failedAt: number): Promise<void> {
    try {
      // KV's shortest expiry is 60 s; the note is read against the interval anyway.
      const expirationTtl = Math.max(60, Math.ceil(this.interval / 1000));
      await this.options.cache.put(this.failureKey, JSON.stringify({ failedAt }), { expirationTtl });
    } catch {
      // This isolate remembers the failure all the same.
    }
  }

  /** A failure remembered: not logged again (its fetch was), and GitHub is told when the next fetch may happen. */
  private stillUnavailable(failedAt: number): PublicKeysUnavailable {
    const remaining = Math.min(this.interval, failedAt + this.interval - this.now()); // (another isolate's clock may run ahead)
    const retryAfterSeconds = Math.max(1, Math.ceil(remaining / 1000));
    return new PublicKeysUnavailable("GitHub public keys unavailable (a fetch failed moments ago)", { retryAfterSeconds });
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
    // The URL's origin and the reason only: the document holds public keys, no
    // request data (token, signature) ever reaches this module, and the rest
    // of the URL may carry credentials (user info, a token in the query).
    log("warn", "secret_scanning_keys_unavailable", { origin: originOf(this.options.url), reason });
    return new PublicKeysUnavailable(`GitHub public keys unavailable (${reason})`, {
      cause,
      retryAfterSeconds: Math.ceil(this.interval / 1000),
    });
  }
}
