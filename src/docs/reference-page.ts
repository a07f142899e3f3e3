/**
 * A self-contained API reference rendered from the OpenAPI document: no
 * scripts, fonts or styles from a CDN, so it renders offline and adds almost
 * nothing to the bundle.
 */
type Json = Record<string, any>;

const esc = (s: unknown) =>
  String(s ?? "").replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]!);

function resolve(doc: Json, schema: Json | undefined): Json | undefined {
  if (schema?.$ref) return doc.components?.schemas?.[String(schema.$ref).split("/").pop()!];
  return schema;
}

function typeOf(doc: Json, schema: Json | undefined): string {
  if (!schema) return "";
  if (schema.$ref) return String(schema.$ref).split("/").pop()!;
  if (schema.enum) return schema.enum.map((v: unknown) => JSON.stringify(v)).join(" | ");
  if (schema.type === "array") return `${typeOf(doc, schema.items)}[]`;
  if (Array.isArray(schema.type)) return schema.type.join(" | ");
  if (schema.anyOf || schema.oneOf) return (schema.anyOf ?? schema.oneOf).map((s: Json) => typeOf(doc, s)).join(" | ");
  return schema.type ?? "object";
}

function fields(doc: Json, schema: Json | undefined): string {
  const s = resolve(doc, schema);
  const variants = s?.oneOf ?? s?.anyOf;
  if (variants) return variants.map((v: Json) => fields(doc, v)).join("<p class=or>or</p>");
  if (!s?.properties) return "";
  const required = new Set<string>(s.required ?? []);
  const rows = Object.entries<Json>(s.properties)
    .map(
      ([name, p]) =>
        `<tr><td><code>${esc(name)}</code>${required.has(name) ? " <span class=req>required</span>" : ""}</td><td><code>${esc(typeOf(doc, p))}</code></td><td>${esc(p.description ?? resolve(doc, p)?.description ?? "")}</td></tr>`,
    )
    .join("");
  return `<table><tr><th>field</th><th>type</th><th>meaning</th></tr>${rows}</table>`;
}

function operation(doc: Json, path: string, method: string, op: Json): string {
  const id = `${method}-${path}`.replace(/[^a-z0-9]+/gi, "-");
  const auth = (op.security ?? []).map((s: Json) => Object.keys(s)[0]).join(", ") || "none";
  const params = (op.parameters ?? [])
    .map((p: Json) => `<tr><td><code>${esc(p.name)}</code> <small>${esc(p.in)}</small></td><td><code>${esc(typeOf(doc, p.schema))}</code></td><td>${esc(p.description ?? p.schema?.description ?? "")}</td></tr>`)
    .join("");
  const body = op.requestBody?.content?.["application/json"]?.schema;
  const responses = Object.entries<Json>(op.responses ?? {})
    .map(([status, r]) => {
      const schema = r.content && (Object.values<Json>(r.content)[0]?.schema as Json | undefined);
      return `<tr><td><code>${esc(status)}</code></td><td>${esc(r.description)}</td><td>${schema ? `<code>${esc(typeOf(doc, schema))}</code>` : ""}</td></tr>`;
    })
    .join("");
  return `<section id="${id}"><h3><span class="m ${method}">${method.toUpperCase()}</span> <code>${esc(path)}</code></h3>
<p><strong>${esc(op.summary)}</strong>. ${esc(op.description ?? "")}</p><p>Auth: <code>${esc(auth)}</code></p>
${params ? `<h4>Parameters</h4><table>${params}</table>` : ""}
${body ? `<h4>Body</h4>${fields(doc, body)}` : ""}
<h4>Responses</h4><table>${responses}</table></section>`;
}

export function renderReference(doc: Json): string {
  const ops = Object.entries<Json>(doc.paths ?? {}).flatMap(([path, item]) =>
    Object.entries<Json>(item).map(([method, op]) => ({ path, method, op })),
  );
  const nav = ops.map(({ path, method }) => `<li><a href="#${`${method}-${path}`.replace(/[^a-z0-9]+/gi, "-")}">${method.toUpperCase()} ${esc(path)}</a></li>`).join("");
  const schemas = Object.entries<Json>(doc.components?.schemas ?? {})
    .map(([name, s]) => `<section id="schema-${esc(name)}"><h3>${esc(name)}</h3><p>${esc(s.description ?? "")}</p>${fields(doc, s)}</section>`)
    .join("");
  const securitySchemes = Object.entries<Json>(doc.components?.securitySchemes ?? {})
    .map(([name, s]) => `<li><code>${esc(name)}</code>: ${esc(s.description)}</li>`)
    .join("");
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(doc.info?.title)} API reference</title><style>
body{font:15px/1.5 system-ui,sans-serif;margin:0;display:flex;color:#1d2330}nav{width:18rem;padding:1rem;background:#f4f5f8;height:100vh;overflow:auto;position:sticky;top:0}
nav ul{list-style:none;padding:0}nav a{color:#334;text-decoration:none;font-size:13px}main{flex:1;padding:1rem 2rem;max-width:60rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}td,th{border-bottom:1px solid #e3e5ea;padding:.3rem .5rem;text-align:left;vertical-align:top}
.m{font-size:12px;padding:2px 6px;border-radius:4px;color:#fff;background:#556}.get{background:#2f7d4f}.post{background:#2b5fb4}.patch{background:#a86b12}.delete{background:#b23a3a}
.req{color:#b23a3a;font-size:11px}section{border-top:1px solid #d7dae1;padding-top:.5rem}.or{font-style:italic;color:#667}</style></head>
<body><nav><strong>${esc(doc.info?.title)}</strong><ul>${nav}</ul><a href="/openapi.json">openapi.json</a></nav>
<main><h1>${esc(doc.info?.title)} API reference</h1><p>${esc(doc.info?.description)}</p><h2>Authentication</h2><ul>${securitySchemes}</ul>
<h2>Routes</h2>${ops.map(({ path, method, op }) => operation(doc, path, method, op)).join("")}<h2>Schemas</h2>${schemas}</main></body></html>`;
}
