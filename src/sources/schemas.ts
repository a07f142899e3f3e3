import { z } from "@hono/zod-openapi";
import { cursorQuery, limitQuery, listSchema } from "../http/openapi";

const MAX_CONTENT_LENGTH = 100_000;

const name = z.string().trim().min(1).max(200).openapi({ description: "1–200 characters after trimming.", example: "Help center" });
const url = z
  .url({ protocol: /^https?$/ })
  .max(2048)
  .openapi({ description: "An http or https URL; required for type `url`.", example: "https://help.example.com" });
const content = z
  .string()
  .min(1)
  .max(MAX_CONTENT_LENGTH)
  .openapi({
    description: `The text itself, at most ${MAX_CONTENT_LENGTH} characters; required for type \`text\`.`,
    example: "Refunds are processed within 5 days.",
  });

export const CreateSourceBody = z
  .discriminatedUnion("type", [
    z.object({ type: z.literal("url").openapi({ description: "A web page to read.", example: "url" }), name, url }),
    z.object({ type: z.literal("text").openapi({ description: "Text given in `content`.", example: "text" }), name, content }),
  ])
  .openapi("CreateSource", {
    description: "A `url` source needs `url`; a `text` source needs `content`.",
    example: { type: "url", name: "Help center", url: "https://help.example.com" },
  });

export const UpdateSourceBody = z
  .object({
    name: name.optional(),
    type: z
      .enum(["url", "text"])
      .optional()
      .openapi({ description: "Change the kind of source; send the matching `url` or `content` too.", example: "text" }),
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
    id: z.string().openapi({ description: "The source's id (`src_…`).", example: "src_8HqL2mVt0Yw6cN4pR1sB9xZa" }),
    name: z.string().openapi({ description: "The source's name, 1–200 characters.", example: "Help center" }),
    type: z.enum(["url", "text"]).openapi({ description: "`url`: a web page; `text`: text given in `content`.", example: "url" }),
    url: z
      .string()
      .nullable()
      .openapi({ description: "The http or https URL of a `url` source; null for `text`.", example: "https://help.example.com" }),
    content: z.string().nullable().openapi({ description: "The text of a `text` source; null for `url`.", example: null }),
    createdAt: z.string().openapi({ description: "When the source was created (ISO 8601, UTC).", example: "2026-11-26T10:00:00.000Z" }),
    updatedAt: z.string().openapi({ description: "When the source last changed (ISO 8601, UTC).", example: "2026-11-26T10:00:00.000Z" }),
  })
  .openapi("Source");

export const SourceListSchema = listSchema(SourceSchema, "SourceList");

export const ListSourcesQuery = z.object({ limit: limitQuery, cursor: cursorQuery });

export const SourceIdParam = z.object({
  id: z
    .string()
    .max(200)
    .openapi({
      param: { name: "id", in: "path", description: "The source's id (`src_…`)." },
      description: "The source's id (`src_…`).",
      example: "src_8HqL2mVt0Yw6cN4pR1sB9xZa",
    }),
});
