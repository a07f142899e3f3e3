import { z } from "@hono/zod-openapi";

export const UsageQuery = z.object({
  days: z.coerce.number().int().min(1).max(90).default(30).openapi({ description: "How many UTC days, ending today, 1–90.", example: 30 }),
});

export const KeyUsageSchema = z
  .object({
    data: z
      .array(
        z.object({
          date: z.string().openapi({ description: "A UTC day, `YYYY-MM-DD`.", example: "2026-11-26" }),
          requests: z.number().int().openapi({ description: "Authenticated calls with the key that day.", example: 1423 }),
        }),
      )
      .openapi({ description: "One entry per day, oldest first, days without calls included (0)." }),
    total: z.number().int().openapi({ description: "The sum over the days.", example: 20481 }),
  })
  .openapi("KeyUsage", {
    description:
      "A key's authenticated calls per UTC day: every call that passed verification counts (with or without the route's scope; refused by its IP allowlist or rate limit too). Fresh within a few seconds; uses an isolate had queued when it stopped may be missing, and no use is ever counted twice.",
  });

export const WorkspaceUsageSchema = z
  .object({
    data: z
      .array(
        z.object({
          keyId: z.string().openapi({ description: "The key's id.", example: "key_3kTMd9bF0aR2xQe7LpWz1Yc5" }),
          requests: z.number().int().openapi({ description: "Authenticated calls over the days.", example: 20481 }),
        }),
      )
      .openapi({ description: "Keys of the workspace used in the period, most used first; keys not listed were not used." }),
    days: z.number().int().openapi({ description: "The period, in UTC days ending today.", example: 30 }),
  })
  .openapi("WorkspaceKeyUsage", { description: "Calls per key of the workspace over the last days, for spotting idle keys." });
