import { z } from "zod";
import type { Env } from "./env";
import { quoteInput } from "./lib/quote";
import { OptionsError } from "./options-error";
import { DEFAULT_PUBLIC_KEYS_URL, type PublicKeysConfig, parsePublicKeysDocument } from "./secret-scanning/public-keys";
import { parseSecretKeys, type SecretKey } from "./webhooks/secret-box";

/**
 * Everything configurable about the service, parsed once from the Worker's
 * vars and secrets. A value that is set but makes no sense is refused by name
 * (see `OptionsError`) instead of silently becoming the default.
 */
export interface AppOptions {
  /**
   * HS256 secret of console session tokens. Null when unset or shorter than
   * 32 bytes: routes that need a session then answer 503 `unavailable`
   * (RFC 7518 §3.2 requires a key at least as long as the hash output).
   */
  sessionSecret: string | null;
  /** When set, a session token's `iss` claim must equal it. */
  sessionIssuer: string | null;
  /** When set, a session token's `aud` claim must equal (or, as an array, contain) it. */
  sessionAudience: string | null;
  /** Seconds between two last-used flushes of one recorder to D1. Default 60. */
  lastUsedFlushSeconds: number;
  /** Milliseconds an isolate gathers key uses before sending them to the recorder. Default 5000; 0 sends at once. */
  lastUsedCoalesceMs: number;
  /** Origins (lower case, no trailing slash) whose pages may call the API from a browser. Default none. */
  corsAllowedOrigins: ReadonlySet<string>;
  /** False: log only refused and failed requests (4xx/5xx). Default true. */
  logSuccesses: boolean;
  /** Period of the AUTH_FAILURES rate limit in seconds, sent as Retry-After with its 429. Default 60. */
  authFailurePeriodSeconds: number;
  /**
   * GitHub's secret scanning public keys: the document pinned by
   * SECRET_SCANNING_PUBLIC_KEYS, or else the SECRET_SCANNING_KEYS_URL to
   * fetch it from (default GitHub's own).
   */
  secretScanningKeys: PublicKeysConfig;
  /**
   * The keys that seal webhook signing secrets at rest (WEBHOOK_SECRET_KEYS;
   * the first seals, any opens), or why there are none: unset or malformed,
   * the webhook routes answer 503 and deliveries wait, while everything else
   * keeps working (as with SESSION_SECRET). The reason names the variable,
   * never a value.
   */
  webhookSecretKeys: { keys: readonly SecretKey[] } | { unusable: string };
  /** WEBHOOK_ALLOW_LOCAL_URLS: also accept `http://` and loopback webhook URLs (local config only). Default false. */
  webhookAllowLocalUrls: boolean;
}

const MIN_SESSION_SECRET_BYTES = 32;

const whole = (name: string, min: number, max: number, fallback: number) =>
  z
    .string()
    .trim()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw === "") return fallback;
      const n = Number(raw);
      if (!Number.isInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: "custom", message: `${name} must be a whole number from ${min} to ${max}, not ${quoteInput(raw)}` });
        return z.NEVER;
      }
      return n;
    });

const optionalText = z
  .string()
  .trim()
  .optional()
  .transform((v) => (v ? v : null));

const OPTION_VARS = [
  "SESSION_SECRET",
  "SESSION_ISSUER",
  "SESSION_AUDIENCE",
  "LAST_USED_FLUSH_SECONDS",
  "LAST_USED_COALESCE_MS",
  "CORS_ALLOWED_ORIGINS",
  "LOG_SUCCESSES",
  "AUTH_FAILURE_PERIOD_SECONDS",
  "SECRET_SCANNING_PUBLIC_KEYS",
  "SECRET_SCANNING_KEYS_URL",
  "WEBHOOK_SECRET_KEYS",
  "WEBHOOK_ALLOW_LOCAL_URLS",
] as const satisfies readonly (keyof Env)[];

// Built on first use: a new isolate pays for it with its first request, not at start-up.
const trueOrFalse = (name: string) =>
  z
    .string()
    .trim()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw === "" || raw === "false") return false;
      if (raw === "true") return true;
      ctx.addIssue({ code: "custom", message: `${name} must be "true" or "false", not ${JSON.stringify(raw)}` });
      return z.NEVER;
    });

const buildSchema = () =>
  z.object({
    SESSION_SECRET: z.string().optional(),
    SESSION_ISSUER: optionalText,
    SESSION_AUDIENCE: optionalText,
    LAST_USED_FLUSH_SECONDS: whole("LAST_USED_FLUSH_SECONDS", 0, 86_400, 60),
    LAST_USED_COALESCE_MS: whole("LAST_USED_COALESCE_MS", 0, 3_600_000, 5_000),
    CORS_ALLOWED_ORIGINS: z
      .string()
      .optional()
      .transform((raw) => allowedOrigins(raw)),
    LOG_SUCCESSES: z
      .string()
      .trim()
      .optional()
      .transform((raw, ctx) => {
        if (raw === undefined || raw === "" || raw === "true") return true;
        if (raw === "false") return false;
        ctx.addIssue({ code: "custom", message: `LOG_SUCCESSES must be "true" or "false", not ${quoteInput(raw)}` });
        return z.NEVER;
      }),
    AUTH_FAILURE_PERIOD_SECONDS: whole("AUTH_FAILURE_PERIOD_SECONDS", 1, 3_600, 60),
    SECRET_SCANNING_PUBLIC_KEYS: z
      .string()
      .optional()
      .transform((raw, ctx) => {
        if (raw === undefined || raw.trim() === "") return null;
        try {
          return parsePublicKeysDocument(raw);
        } catch (error) {
          ctx.addIssue({ code: "custom", message: error instanceof Error ? error.message : "SECRET_SCANNING_PUBLIC_KEYS is not valid" });
          return z.NEVER;
        }
      }),
    SECRET_SCANNING_KEYS_URL: z
      .string()
      .trim()
      .optional()
      .transform((raw, ctx) => {
        // An empty var means "not set", as with the other vars.
        if (raw === undefined || raw === "") return DEFAULT_PUBLIC_KEYS_URL;
        if (!URL.canParse(raw) || !/^https?:$/.test(new URL(raw).protocol)) {
          // Not echoed: a URL can carry credentials.
          ctx.addIssue({ code: "custom", message: "SECRET_SCANNING_KEYS_URL must be an http or https URL" });
          return z.NEVER;
        }
        return raw;
      }),
    WEBHOOK_SECRET_KEYS: z
      .string()
      .optional()
      .transform((raw) => {
        try {
          return { keys: parseSecretKeys(raw) };
        } catch (error) {
          return { unusable: error instanceof Error ? error.message : "WEBHOOK_SECRET_KEYS is not valid" };
        }
      }),
    WEBHOOK_ALLOW_LOCAL_URLS: trueOrFalse("WEBHOOK_ALLOW_LOCAL_URLS"),
  } satisfies Record<(typeof OPTION_VARS)[number], z.ZodType>);

/**
 * The origins named in `CORS_ALLOWED_ORIGINS` (comma-separated). A trailing
 * slash is ignored; scheme and host compare case-insensitively, as browsers
 * send the Origin header in lower case. `*` and `null` are never honoured: a
 * wildcard would let any page drive an admin's session token.
 */
function allowedOrigins(value: string | undefined): Set<string> {
  return new Set(
    (value ?? "")
      .split(",")
      .map((o) => o.trim().replace(/\/+$/, "").toLowerCase())
      .filter((o) => o !== "" && o !== "*" && o !== "null"),
  );
}

let schema: ReturnType<typeof buildSchema> | undefined;

/** Parses the options from the Worker's environment; throws OptionsError naming every bad value. */
export function parseOptions(env: Partial<Record<keyof Env, unknown>>): AppOptions {
  const parsed = (schema ??= buildSchema()).safeParse(env);
  if (!parsed.success) throw new OptionsError(parsed.error.issues.map((i) => i.message).join("; "));
  const o = parsed.data;
  const secret = o.SESSION_SECRET ?? "";
  return {
    sessionSecret: new TextEncoder().encode(secret).length >= MIN_SESSION_SECRET_BYTES ? secret : null,
    sessionIssuer: o.SESSION_ISSUER,
    sessionAudience: o.SESSION_AUDIENCE,
    lastUsedFlushSeconds: o.LAST_USED_FLUSH_SECONDS,
    lastUsedCoalesceMs: o.LAST_USED_COALESCE_MS,
    corsAllowedOrigins: o.CORS_ALLOWED_ORIGINS,
    logSuccesses: o.LOG_SUCCESSES,
    authFailurePeriodSeconds: o.AUTH_FAILURE_PERIOD_SECONDS,
    secretScanningKeys: { document: o.SECRET_SCANNING_PUBLIC_KEYS, url: o.SECRET_SCANNING_KEYS_URL },
    webhookSecretKeys: o.WEBHOOK_SECRET_KEYS,
    webhookAllowLocalUrls: o.WEBHOOK_ALLOW_LOCAL_URLS,
  };
}

let latest: { signature: string; options: AppOptions } | undefined;

/**
 * The options of this environment, parsed once per isolate: the Workers
 * runtime hands every request (and a Durable Object) the same env, so the
 * same object comes back until the values change (a redeploy changes the
 * isolate anyway). Throws OptionsError naming every bad value, as parseOptions.
 */
export function readOptions(env: Partial<Record<keyof Env, unknown>>): AppOptions {
  const signature = optionsSignature(env);
  if (latest?.signature !== signature) latest = { signature, options: parseOptions(env) };
  return latest.options;
}

/** The options' source values, as a cache key: two envs with the same values share one parse. */
function optionsSignature(env: Partial<Record<keyof Env, unknown>>): string {
  return JSON.stringify(OPTION_VARS.map((name) => env[name] ?? null));
}
