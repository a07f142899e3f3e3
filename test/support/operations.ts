import { exampleOf, type Json, resolveRef } from "../../src/docs/examples";
import type { OPERATIONS } from "../../src/routes";
import type { RequestInit } from "./isolate";

export type ListedOperation = (typeof OPERATIONS)[number];

/**
 * A request for `op` built from the route list and the OpenAPI document alone
 * (no hand-written list): the path with each parameter's documented example,
 * and the documented example body. The ids are examples, so the request
 * reaches validation and the handler, which answer 404 for them; a suite that
 * needs a real resource substitutes its own ids with `params`.
 */
export function exampleRequest(
  doc: Json,
  op: ListedOperation,
  params: Record<string, string> = {},
): { method: string; path: string } & RequestInit {
  const documented: Json = doc.paths[op.path][op.method];
  let path: string = op.path;
  for (const p of (documented.parameters ?? []) as Json[]) {
    if (p.in !== "path") continue;
    const value = params[p.name] ?? String(p.example ?? p.schema?.example ?? exampleOf(doc, p.schema));
    path = path.replace(`{${p.name}}`, encodeURIComponent(value));
  }
  const schema = resolveRef(doc, documented.requestBody?.content?.["application/json"]?.schema);
  const body = schema === undefined ? undefined : exampleOf(doc, schema);
  return { method: op.method.toUpperCase(), path, ...(body === undefined ? {} : { body }) };
}
