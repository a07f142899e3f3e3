import { z } from "@hono/zod-openapi";
import { cursorQuery, limitQuery, listSchema } from "../http/openapi";

export const MAX_CONTENT_LENGTH = 100_000;

const name = z.string().trim().min(1).max(200).openapi({ description: "1–200 characters after trimming.", example: "Help center" });
const url = z
  .url({ protocol: /^https?$/, hostname: z.regexes.domain })
  .max(2048)
  .openapi({ description: "An http or https URL; required for type `url`.", example: "https://help.example.com" });
const content = z
  .string()
  .min(1)
  .max(MAX_CONTENT_LENGTH)
  .openapi({ description: `The text itself, at most ${MAX_CONTENT_LENGTH} characters; required for type \`text\`.`, example: "Refunds are processed within 5 days." });

export const CreateSourceBody = z
  .discriminatedUnion("type", [
    z.object({ type: z.literal("url"), name, url }),
    z.object({ type: z.literal("text"), name, content }),
  ])
  .openapi("CreateSource", {
    description: "A `url` source needs `url`; a `text` source needs `content`.",
    example: { type: "url", name: "Help center", url: "https://help.example.com" },
  });

export const UpdateSourceBody = z
  .object({
    name: name.optional(),
    type: z.enum(["url", "text"]).optional(),
    url: url.optional(),
    content: content.optional(),
  })
  .refine((b) => Object.values(b).some((v) => v !== undefined), "Send at least one field to change.")
  .openapi("UpdateSource", {
    description: "Fields to change. The result must still be a valid source: switching `type` needs the matching `url` or `content`.",
    example: { name: "Help center (EN)" },
  });

export const SourceSchema = z
  .object({
    id: z.string().openapi({ example: "src_8HqL2mVt0Yw6cN4pR1sB9xZa" }),
    name: z.string().openapi({ example: "Help center" }),
    type: z.enum(["url", "text"]),
    url: z.string().nullable().openapi({ example: "https://help.example.com" }),
    content: z.string().nullable().openapi({ example: null }),
    createdAt: z.string().openapi({ example: "2026-11-26T10:00:00.000Z" }),
    updatedAt: z.string().openapi({ example: "2026-11-26T10:00:00.000Z" }),
  })
  .openapi("Source");

export const SourceListSchema = listSchema(SourceSchema, "SourceList");

export const ListSourcesQuery = z.object({ limit: limitQuery, cursor: cursorQuery });

export const SourceIdParam = z.object({
  id: z.string().max(200).openapi({ param: { name: "id", in: "path" }, example: "src_8HqL2mVt0Yw6cN4pR1sB9xZa" }),
});
