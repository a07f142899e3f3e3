import { and, desc, eq, type SQL } from "drizzle-orm";
import { database } from "../db/client";
import { after } from "../db/keyset";
import { type SourceRow, sources } from "../db/schema";
import { storage } from "../db/storage";
import type { Env } from "../env";
import { decodeCursor, page } from "../http/cursor";
import { fieldErrors } from "../http/openapi";
import { invalidRequest, notFound } from "../http/problem";
import { newId } from "../lib/ids";
import { CreateSourceBody } from "./schemas";

type SourceInput = { type: "url"; name: string; url: string } | { type: "text"; name: string; content: string };

function toSource(row: SourceRow) {
  return {
    id: row.id,
    name: row.name,
    type: row.type,
    url: row.url,
    content: row.content,
    createdAt: new Date(row.createdAt).toISOString(),
    updatedAt: new Date(row.updatedAt).toISOString(),
  };
}

const missing = () => notFound("No source with this id in this workspace.");
const byId = (workspaceId: string, id: string) => and(eq(sources.workspaceId, workspaceId), eq(sources.id, id));

export async function listSources(env: Env, workspaceId: string, query: { limit: number; cursor?: string | undefined }) {
  const cursor = query.cursor ? decodeCursor(query.cursor) : null;
  const conditions: (SQL | undefined)[] = [eq(sources.workspaceId, workspaceId)];
  if (cursor) {
    conditions.push(after(sources.createdAt, sources.id, cursor));
  }
  const rows = await storage("list_sources", () =>
    database(env.DB)
      .select()
      .from(sources)
      .where(and(...conditions))
      .orderBy(desc(sources.createdAt), desc(sources.id))
      .limit(query.limit + 1)
      .all(),
  );
  const result = page(rows, query.limit, (r) => ({ t: r.createdAt, id: r.id }));
  return { data: result.data.map(toSource), nextCursor: result.nextCursor };
}

export async function getSource(env: Env, workspaceId: string, id: string) {
  const row = await storage("get_source", () => database(env.DB).select().from(sources).where(byId(workspaceId, id)).get());
  if (!row) throw missing();
  return toSource(row);
}

export async function createSource(env: Env, workspaceId: string, input: SourceInput) {
  const now = Date.now();
  const row: SourceRow = {
    id: newId("src"),
    workspaceId,
    name: input.name,
    type: input.type,
    url: input.type === "url" ? input.url : null,
    content: input.type === "text" ? input.content : null,
    createdAt: now,
    updatedAt: now,
  };
  await storage("create_source", () => database(env.DB).insert(sources).values(row).run());
  return toSource(row);
}

export async function updateSource(
  env: Env,
  workspaceId: string,
  id: string,
  patch: { name?: string | undefined; type?: "url" | "text" | undefined; url?: string | undefined; content?: string | undefined },
) {
  const db = database(env.DB);
  const current = await storage("get_source", () => db.select().from(sources).where(byId(workspaceId, id)).get());
  if (!current) throw missing();
  // The merged source must be as valid as a new one.
  const merged = CreateSourceBody.safeParse({
    name: patch.name ?? current.name,
    type: patch.type ?? current.type,
    url: patch.url ?? current.url ?? undefined,
    content: patch.content ?? current.content ?? undefined,
  });
  if (!merged.success) throw invalidRequest("The updated source would not be valid.", fieldErrors(merged.error));
  const next = merged.data;
  const changes = {
    name: next.name,
    type: next.type,
    url: next.type === "url" ? next.url : null,
    content: next.type === "text" ? next.content : null,
    updatedAt: Math.max(Date.now(), current.updatedAt),
  };
  const updated = await storage("update_source", () => db.update(sources).set(changes).where(byId(workspaceId, id)).returning().get());
  if (!updated) throw missing();
  return toSource(updated);
}

export async function deleteSource(env: Env, workspaceId: string, id: string) {
  const deleted = await storage("delete_source", () =>
    database(env.DB).delete(sources).where(byId(workspaceId, id)).returning({ id: sources.id }).get(),
  );
  if (!deleted) throw missing();
}
