/*
 * The Worker's bindings and the protocols of its Durable Objects. This file
 * imports nothing of ours, not even types: everything may depend on it, and
 * it on nothing. The Durable Object classes implement the interfaces below,
 * so the bindings are typed without importing the classes.
 */

/** Bindings from wrangler.toml, `.dev.vars` and deploy-time secrets. */
export interface Env {
  DB: D1Database;
  KEY_CACHE: KVNamespace;
  LAST_USED: DurableObjectNamespace<LastUsedRecorderRpc>;
  /** Per-key rate-limit counters, one object per key id (src/ratelimit/counter.ts). */
  RATE_LIMITS: DurableObjectNamespace<RateLimitCounterRpc>;
  /** The change courier, the one writer of KV (src/delivery/change-courier.ts). */
  CHANGE_COURIER: DurableObjectNamespace<ChangeCourierRpc>;
  SESSION_SECRET: string;
  /** The console's page, script and style ([assets] in wrangler.toml, built by scripts/build-console.mjs). */
  ASSETS: Fetcher;
  /** Rate Limiting binding counting failed authentications per client IP ([[ratelimits]] in wrangler.toml). */
  AUTH_FAILURES?: RateLimit;
  /** The AUTH_FAILURES period in seconds, sent as Retry-After with a 429. */
  AUTH_FAILURE_PERIOD_SECONDS?: string;
  LAST_USED_FLUSH_SECONDS?: string;
  LAST_USED_COALESCE_MS?: string;
  /** Comma-separated origins a console on another origin may call from (CORS); empty: none. */
  CORS_ALLOWED_ORIGINS?: string;
  /** "false": log only requests answered with 4xx/5xx (default: every request). */
  LOG_SUCCESSES?: string;
  /** Optional: session tokens must carry this `iss`. */
  SESSION_ISSUER?: string;
  /** Optional: session tokens must carry this `aud`. */
  SESSION_AUDIENCE?: string;
  /** GitHub's secret scanning public keys document (JSON); when set, never fetched. */
  SECRET_SCANNING_PUBLIC_KEYS?: string;
  /** Where GitHub's secret scanning public keys are fetched from when the var above is unset. */
  SECRET_SCANNING_KEYS_URL?: string;
  /** Webhook wake-ups: a delivery to attempt, or "produce the events of new changes" (src/webhooks/consumer.ts). */
  WEBHOOK_DELIVERIES: Queue<WebhookWakeUp>;
  /** The keys that seal webhook signing secrets at rest: `<id>:<base64 of 32 bytes>`, first seals, any opens. */
  WEBHOOK_SECRET_KEYS?: string;
  /** "true" (local config only): webhook URLs may be http:// and loopback. */
  WEBHOOK_ALLOW_LOCAL_URLS?: string;
}

/**
 * A queue message of WEBHOOK_DELIVERIES: "attempt this delivery if it is due"
 * (the delivery's row holds everything else), or "produce the webhook events
 * of the change log and signals" (sent by each key change; the events are
 * made in the consumer's invocation, not the request's).
 */
export type WebhookWakeUp = { deliveryId: string } | { produce: true };

/** What a LAST_USED recorder shard answers over RPC (src/usage/last-used-recorder.ts). */
export interface LastUsedRecorderRpc extends Rpc.DurableObjectBranded {
  record(shard: number, batches: UseBatch[]): Promise<void>;
  latest(workspaceId: string, keyIds: string[]): Promise<Record<string, RecordedUse>>;
  dailyCounts(workspaceId: string, keyId: string | null, fromDay: string): Promise<DailyCount[]>;
  /** A page of one key's request log as this shard (number `shard`) holds it, newest first. */
  calls(shard: number, workspaceId: string, keyId: string, query: CallQuery): Promise<StoredCall[]>;
  /**
   * Erases the workspace's request log entries made before `before`: none is answered or accepted from now on, and
   * at most `limit` (default MAX_ERASED_PER_CALL) are deleted per call; `done` once none is left.
   */
  erase(workspaceId: string, before: number, limit?: number): Promise<{ deleted: number; done: boolean }>;
}

/** What the change courier answers over RPC (src/delivery/change-courier.ts). */
export interface ChangeCourierRpc extends Rpc.DurableObjectBranded {
  /** Delivers the change log's pending changes to KV now. */
  deliver(): Promise<void>;
  /**
   * Writes these keys' copies again: a reader found them missing (only if KV
   * should have had them for a while) or, with `damaged`, unreadable.
   */
  refill(keyHashes: string[], damaged: boolean): Promise<void>;
}

/** What a RATE_LIMITS counter answers over RPC (src/ratelimit/counter.ts). */
export interface RateLimitCounterRpc extends Rpc.DurableObjectBranded {
  add(periodSeconds: number, windowStart: number, count: number): Promise<number>;
}

/** A key's calls gathered by one isolate. */
export interface UseEntry {
  keyId: string;
  workspaceId: string;
  /** Latest use, epoch ms, and the caller of that use; at is null when none of the calls was a use. */
  at: number | null;
  ip: string | null;
  country: string | null;
  /** Uses per UTC day ("YYYY-MM-DD"). */
  days: Record<string, number>;
  /** Calls per UTC day per outcome, in the order of src/usage/outcomes.ts. Absent from batches of older isolates. */
  outcomes?: Record<string, number[]>;
  /** The calls kept for the request log (the isolate keeps the newest few per key). */
  calls?: LoggedCall[];
  /** This key's calls the isolate left out of `calls` (over its budget): counted, not logged. */
  dropped?: number;
  /** The latest call refused because the key was revoked: [at, ip, country]. */
  afterRevoke?: [number, string | null, string | null];
}

/** One call of the request log on its way to a shard: [at, outcome index, method, path, status, ip, country]. */
export type LoggedCall = [number, number, string, string, number, string | null, string | null];

/** One message's worth of uses; the recorder applies a batch id once. */
export interface UseBatch {
  id: string;
  uses: UseEntry[];
}

export interface RecordedUse {
  /** Latest use and its caller; at is null when the shard heard only of refused calls of the key. */
  at: number | null;
  ip: string | null;
  country: string | null;
  /** Latest call refused because the key was revoked, not yet in D1; null if none. */
  afterRevokeAt: number | null;
}

/** A shard's (or D1's per-shard) total of calls of a key on a UTC day. */
export interface DailyCount {
  keyId: string;
  day: string;
  /** Uses (see src/usage/outcomes.ts, isUse). */
  requests: number;
  /** Calls per outcome, in the order of src/usage/outcomes.ts. */
  outcomes: number[];
}

/** Which entries of a key's request log a shard answers: newest first, older than `before`, at or after `since`. */
export interface CallQuery {
  limit: number;
  /** The position after which to answer (the last entry of the previous page), or null for the newest. */
  before: { at: number; shard: number; seq: number } | null;
  /** Only this outcome (an index into OUTCOMES), or null for all. */
  outcome: number | null;
  /** Epoch ms: nothing older is answered (retention). */
  since: number;
}

/** One entry of a key's request log as a shard holds it: [seq, at, outcome index, method, path, status, ip, country]. */
export type StoredCall = [number, number, number, string, string, number, string | null, string | null];

/** Only what the code needs from the execution context, so Hono's and the runtime's both fit. */
export interface WaitUntil {
  waitUntil(promise: Promise<unknown>): void;
}

type WorkerEnv = Env;
declare global {
  namespace Cloudflare {
    // Types `env` from "cloudflare:workers" in tests.
    interface Env extends WorkerEnv {}
  }
}
