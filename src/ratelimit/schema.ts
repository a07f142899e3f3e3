import { z } from "@hono/zod-openapi";
import { MAX_LIMIT, MAX_PERIOD_SECONDS, MIN_LIMIT, MIN_PERIOD_SECONDS } from "./types";

/**
 * The rateLimit field of a create or update body. The bounds are the ones the
 * limiter clamps to, so what is stored is exactly what is enforced (and what
 * the RateLimit-Policy header announces).
 */
export const RateLimitSchema = z
  .object({
    limit: z
      .number()
      .int()
      .min(MIN_LIMIT)
      .max(MAX_LIMIT)
      .openapi({ description: `Calls allowed per period, ${MIN_LIMIT}–${MAX_LIMIT.toLocaleString("en-US")}.`, example: 100 }),
    periodSeconds: z
      .number()
      .int()
      .min(MIN_PERIOD_SECONDS)
      .max(MAX_PERIOD_SECONDS)
      .openapi({
        description: `The window, ${MIN_PERIOD_SECONDS}–${MAX_PERIOD_SECONDS} seconds; windows are aligned to the epoch (a 60-second window starts on the minute).`,
        example: 60,
      }),
  })
  .openapi({
    description:
      "At most `limit` authenticated calls per `periodSeconds` for this key; over it, 429 `rate_limited` with `Retry-After`. " +
      "Every answer to a key with a limit carries the `RateLimit-Policy` and `RateLimit` headers (draft-ietf-httpapi-ratelimit-headers-11).",
    example: { limit: 100, periodSeconds: 60 },
  });

export type RateLimitInput = z.infer<typeof RateLimitSchema>;
