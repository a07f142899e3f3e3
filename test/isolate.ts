import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach } from "vitest";
import { createApp } from "../src/app";
import type { Env } from "../src/env";
import { CachedKeyStore, type CachedKeyStoreOptions } from "../src/keys/verify/cached-key-store";
import { ChangeFeed } from "../src/keys/verify/change-feed";
import { parseOptions } from "../src/options";
import { WindowRateLimiter } from "../src/ratelimit/limiter";
import type { KeyRateLimiter } from "../src/ratelimit/types";
import { CoalescingReporter } from "../src/usage/coalescing-reporter";

export const BASE = "https://owlish.test";

export interface RequestInit {
  token?: string;
  body?: unknown;
  headers?: Record<string, string>;
}

export function buildRequest(method: string, path: string, init: RequestInit = {}): Request {
  const headers = new Headers(init.headers);
  if (init.token) headers.set("Authorization", `Bearer ${init.token}`);
  let body: string | undefined;
  if (init.body !== undefined) {
    body = typeof init.body === "string" ? init.body : JSON.stringify(init.body);
    if (!headers.has("Content-Type")) headers.set("Content-Type", "application/json");
  }
  return new Request(BASE + path, { method, headers, body });
}

/**
 * The Cache API cache of a simulated location. Each test gets locations of
 * its own (named after the test), so no test ever reads another's snapshot
 * of the change feed; isolates of one test share the location unless told
 * otherwise.
 */
let locationPrefix = crypto.randomUUID();
export const locationCache =
  (location = "here") =>
  () =>
    caches.open(`${locationPrefix}:${location}`);

/**
 * One simulated Workers isolate: the app built from fresh parts (its own key
 * memo, change-feed snapshot, use queue and rate-limit counters) over the
 * test's real D1, KV and Durable Objects. Two Isolates are two isolates of one
 * location (sharing the location's cache) unless given different `location`s;
 * a new one is a cold start.
 */
export class Isolate {
  readonly keys: CachedKeyStore;
  readonly usage: CoalescingReporter;
  readonly limiter: KeyRateLimiter;
  readonly #apps = new Map<string, ReturnType<typeof createApp>>();

  constructor(
    options: { keys?: CachedKeyStoreOptions; shard?: number; coalesceMs?: number; limiter?: KeyRateLimiter; location?: string } = {},
  ) {
    this.keys = new CachedKeyStore({ feed: new ChangeFeed({ cache: locationCache(options.location) }), ...options.keys });
    // Production's limiter, synced through the real RATE_LIMITS objects. Its
    // clock reads Date.now at each call (the default captures the function),
    // so tests that fake Date move its windows too.
    this.limiter = options.limiter ?? new WindowRateLimiter({ clock: () => Date.now() });
    this.usage = new CoalescingReporter({ coalesceMs: options.coalesceMs ?? Number(env.LAST_USED_COALESCE_MS), shard: options.shard ?? 0 });
  }

  /** The app of this isolate, for an env with these overrides (bindings or vars). */
  app(overrides: Partial<Env> = {}) {
    const signature = JSON.stringify(Object.entries(overrides).filter(([, v]) => typeof v === "string"));
    let app = this.#apps.get(signature);
    if (!app) {
      app = createApp({
        options: parseOptions({ ...env, ...overrides }),
        services: { keys: this.keys, usage: this.usage, limiter: this.limiter },
      });
      this.#apps.set(signature, app);
    }
    return app;
  }

  /** Answers the request as the worker would; its waitUntil work goes on in the background. */
  fetch(request: Request, overrides: Partial<Env> = {}, ctx: ExecutionContext = createExecutionContext()): Promise<Response> {
    return Promise.resolve(this.app(overrides).fetch(request, { ...env, ...overrides }, ctx));
  }

  call(method: string, path: string, init: RequestInit = {}): Promise<Response> {
    return this.fetch(buildRequest(method, path, init));
  }

  /** Answers the request, then waits for its waitUntil work (KV refills, use reports) to finish. */
  async settled(overrides: Partial<Env>, method: string, path: string, init: RequestInit = {}): Promise<Response> {
    const ctx = createExecutionContext();
    const response = await this.fetch(buildRequest(method, path, init), overrides, ctx);
    await waitOnExecutionContext(ctx);
    return response;
  }
}

let current = new Isolate();
// Every test starts in a fresh isolate of a fresh location: nothing remembered from another test.
beforeEach(() => {
  locationPrefix = crypto.randomUUID();
  current = new Isolate();
});

/** The isolate the current test's calls go to. */
export const isolate = () => current;

/** Moves the test's later calls to a new isolate of the same location: a cold start, same storage. */
export function freshIsolate(options?: ConstructorParameters<typeof Isolate>[0]): Isolate {
  current = new Isolate(options);
  return current;
}
