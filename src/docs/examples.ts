/** Example values built from an OpenAPI document's own schemas and their `example`s. */
// biome-ignore lint/suspicious/noExplicitAny: an OpenAPI document is untyped JSON walked by key.
export type Json = Record<string, any>;

export function resolveRef(doc: Json, schema: Json | undefined): Json | undefined {
  if (schema?.$ref) return resolveRef(doc, doc.components?.schemas?.[String(schema.$ref).split("/").pop()!]);
  return schema;
}

/** An example for `schema`: its own example if it has one, else one assembled from its parts. */
export function exampleOf(doc: Json, schema: Json | undefined, depth = 0): unknown {
  if (!schema || depth > 10) return undefined;
  if (schema.example !== undefined) return schema.example;
  if (Array.isArray(schema.examples) && schema.examples.length > 0) return schema.examples[0];
  if (schema.$ref) return exampleOf(doc, resolveRef(doc, schema), depth + 1);
  if (schema.const !== undefined) return schema.const;
  if (Array.isArray(schema.enum)) return schema.enum[0];
  const variants: Json[] | undefined = schema.oneOf ?? schema.anyOf;
  if (variants) {
    const first = variants.find((v) => v.type !== "null") ?? variants[0];
    return exampleOf(doc, first, depth + 1);
  }
  if (schema.allOf) return Object.assign({}, ...schema.allOf.map((s: Json) => exampleOf(doc, s, depth + 1)));
  if (schema.properties) {
    const out: Json = {};
    for (const [name, property] of Object.entries<Json>(schema.properties)) {
      const value = exampleOf(doc, property, depth + 1);
      if (value !== undefined) out[name] = value;
    }
    return out;
  }
  if (schema.items) {
    const item = exampleOf(doc, schema.items, depth + 1);
    return item === undefined ? [] : [item];
  }
  if (schema.default !== undefined) return schema.default;
  const type = Array.isArray(schema.type) ? schema.type.find((t: string) => t !== "null") : schema.type;
  return { string: "string", integer: 0, number: 0, boolean: true, null: null, object: {} }[type as string];
}

/**
 * Gives every array field of a component schema that has no example one made
 * from its items (a list's `data`, for instance), so that each field of the
 * document carries an example.
 */
export function completeArrayExamples<T extends Json>(doc: T): T {
  for (const schema of Object.values<Json>(doc.components?.schemas ?? {})) {
    for (const property of Object.values<Json>(schema.properties ?? {})) {
      if (property.type === "array" && property.example === undefined && property.examples === undefined) {
        property.example = exampleOf(doc, property);
      }
    }
  }
  return doc;
}
