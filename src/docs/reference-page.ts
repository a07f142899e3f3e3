/**
 * The API reference at /docs, rendered on the server from the OpenAPI
 * document: no script, font or style from anywhere else, so it renders fully
 * offline and adds a few KiB to the bundle. Every route shows its parameters,
 * body fields, responses and examples (built from the schemas' own examples)
 * and a curl line; the error codes and schemas follow.
 */
import { errorAnchor } from "../http/problem";
import { escapeHtml as esc } from "../lib/html";
import { exampleOf, type Json, resolveRef } from "./examples";

/** The little Markdown the descriptions use: paragraphs, `code` and **bold**. */
function md(text: unknown): string {
  return esc(text)
    .replace(/`([^`]+)`/g, "<code>$1</code>")
    .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>");
}
const paragraphs = (text: unknown) =>
  String(text ?? "")
    .split(/\n{2,}/)
    .filter((p) => p.trim())
    .map((p) => `<p>${md(p)}</p>`)
    .join("");

const refName = (schema: Json) => String(schema.$ref).split("/").pop()!;
const anchor = (s: string) => s.replace(/[^a-z0-9]+/gi, "-").replace(/^-|-$/g, "");
const opId = (method: string, path: string, op: Json) => String(op.operationId ?? anchor(`${method}-${path}`));
const json = (value: unknown) => `<pre><code>${esc(JSON.stringify(value, null, 2))}</code></pre>`;

function typeOf(doc: Json, schema: Json | undefined): string {
  if (!schema) return "";
  if (schema.$ref) return `<a href="#schema-${esc(refName(schema))}">${esc(refName(schema))}</a>`;
  if (schema.const !== undefined) return esc(JSON.stringify(schema.const));
  if (schema.enum) return schema.enum.map((v: unknown) => esc(JSON.stringify(v))).join(" | ");
  if (schema.type === "array") {
    const item = typeOf(doc, schema.items);
    return item.includes(" | ") ? `(${item})[]` : `${item}[]`;
  }
  const variants = schema.anyOf ?? schema.oneOf;
  if (variants) return variants.map((s: Json) => typeOf(doc, s)).join(" | ");
  const base = Array.isArray(schema.type) ? schema.type.join(" | ") : (schema.type ?? "object");
  const nullable = schema.nullable ? " | null" : "";
  const format = schema.format ? ` <small>(${esc(schema.format)})</small>` : "";
  return `${esc(base)}${nullable}${format}`;
}

/** A field's bounds as the validator applies them: lengths, numeric ranges, item counts (and each item's), and its default. */
function constraints(doc: Json, schema: Json): string {
  const parts = bounds(schema);
  const items = schema.items ? resolveRef(doc, schema.items) : undefined;
  if (items && !items.properties) parts.push(...bounds(items).map((b) => `each ${b}`));
  return parts.length ? ` <small class="c">${esc(parts.join("; "))}</small>` : "";
}

function bounds(s: Json): string[] {
  const parts: string[] = [];
  if (s.minLength !== undefined || s.maxLength !== undefined) parts.push(`length ${s.minLength ?? 0}–${s.maxLength ?? "∞"}`);
  if (s.minimum !== undefined || s.maximum !== undefined) parts.push(`${s.minimum ?? "−∞"}–${s.maximum ?? "∞"}`);
  if (s.exclusiveMinimum !== undefined) parts.push(`> ${s.exclusiveMinimum}`);
  if (s.exclusiveMaximum !== undefined) parts.push(`< ${s.exclusiveMaximum}`);
  if (s.minItems !== undefined && s.maxItems !== undefined) parts.push(`${s.minItems}–${s.maxItems} items`);
  else if (s.minItems !== undefined) parts.push(`at least ${s.minItems}`);
  else if (s.maxItems !== undefined) parts.push(`at most ${s.maxItems} items`);
  if (s.default !== undefined) parts.push(`default ${JSON.stringify(s.default)}`);
  return parts;
}

/** The object a field holds, if it holds one (also when it may be null): its fields get rows of their own. */
function nestedObject(doc: Json, schema: Json): Json | undefined {
  const s = resolveRef(doc, schema);
  if (s?.properties) return s;
  const variants: Json[] = s?.anyOf ?? s?.oneOf ?? [];
  const objects = variants.map((v) => resolveRef(doc, v)).filter((v): v is Json => Boolean(v?.properties));
  return objects.length === 1 ? objects[0] : undefined;
}

const exampleCell = (value: unknown) => (value === undefined ? "" : `<code>${esc(JSON.stringify(value))}</code>`);

function fieldRows(doc: Json, schema: Json | undefined): string {
  const s = resolveRef(doc, schema);
  const variants: Json[] | undefined = s?.oneOf ?? s?.anyOf;
  if (variants && !s?.properties) {
    return variants.map((v, i) => `${i ? `<p class="or">or</p>` : ""}${fieldRows(doc, v)}`).join("");
  }
  // A list (a secret scanning report): how many items, then the fields of each.
  if (s?.type === "array" && s.items) return `<p>${typeOf(doc, s)}${constraints(doc, s)}</p>${fieldRows(doc, s.items)}`;
  if (!s?.properties) return "";
  return `<table><thead><tr><th>field</th><th>type</th><th>meaning</th><th>example</th></tr></thead><tbody>${propertyRows(doc, s, "")}</tbody></table>`;
}

/**
 * One row per field, and for a field that holds an object (`rateLimit`), one
 * per field of it (`rateLimit.limit`), so that every bound is shown where it applies.
 */
function propertyRows(doc: Json, s: Json, prefix: string, depth = 0): string {
  const required = new Set<string>(s.required ?? []);
  return Object.entries<Json>(s.properties ?? {})
    .map(([name, p]) => {
      const target = resolveRef(doc, p) ?? p;
      const row = `<tr><td><code>${esc(prefix + name)}</code>${required.has(name) ? ` <span class="req">required</span>` : ""}</td><td>${typeOf(doc, p)}${constraints(doc, target)}</td><td>${md(p.description ?? target.description ?? "")}</td><td>${exampleCell(exampleOf(doc, p))}</td></tr>`;
      const nested = depth < 3 && !p.$ref ? nestedObject(doc, target) : undefined;
      return row + (nested ? propertyRows(doc, nested, `${prefix}${name}.`, depth + 1) : "");
    })
    .join("");
}

const SCHEME_LABEL: Record<string, string> = { sessionToken: "Console session (admin)", apiKey: "API key" };

function curl(doc: Json, path: string, method: string, op: Json, body: Json | undefined): string {
  const scheme = Object.keys(op.security?.[0] ?? {})[0];
  const params = (op.parameters ?? []) as Json[];
  let url = path.replace(/\{(\w+)\}/g, (_, name) => String(exampleOf(doc, params.find((p) => p.name === name)?.schema) ?? name));
  const query = params.filter((p) => p.in === "query" && p.name === "limit");
  if (query.length) url += `?${query.map((p) => `${p.name}=${exampleOf(doc, p.schema)}`).join("&")}`;
  const lines = [`curl -s${method === "get" ? "" : ` -X ${method.toUpperCase()}`} "$BASE${url}"`];
  if (scheme) lines.push(`-H "Authorization: Bearer ${scheme === "apiKey" ? "$KEY" : "$TOKEN"}"`);
  if (body) {
    const example = op.requestBody.content["application/json"].example ?? exampleOf(doc, body);
    lines.push(`-H 'Content-Type: application/json'`, `-d '${JSON.stringify(example)}'`);
  }
  return `<pre class="curl"><code>${esc(lines.join(" \\\n  "))}</code></pre>`;
}

function operation(doc: Json, path: string, method: string, op: Json): string {
  const id = opId(method, path, op);
  const schemes = (op.security ?? []).flatMap((s: Json) => Object.keys(s));
  const auth = schemes.length
    ? schemes.map((s: string) => `<a href="#auth-${esc(s)}">${esc(SCHEME_LABEL[s] ?? s)}</a>`).join(" or ")
    : "none";
  const params = (op.parameters ?? [])
    .map(
      (p: Json) =>
        `<tr><td><code>${esc(p.name)}</code> <small>${esc(p.in)}</small>${p.required ? ` <span class="req">required</span>` : ""}</td><td>${typeOf(doc, p.schema)}${constraints(doc, p.schema ?? {})}</td><td>${md(p.description ?? p.schema?.description ?? "")}</td><td>${exampleCell(exampleOf(doc, p.schema))}</td></tr>`,
    )
    .join("");
  const bodyContent = op.requestBody?.content?.["application/json"];
  const body = bodyContent?.schema as Json | undefined;
  const responses = Object.entries<Json>(op.responses ?? {});
  const responseRows = responses
    .map(([status, r]) => {
      const schema = r.content && (Object.values<Json>(r.content)[0]?.schema as Json | undefined);
      return `<tr><td><code class="s s${esc(status[0])}">${esc(status)}</code></td><td>${md(r.description)}</td><td>${schema ? typeOf(doc, schema) : "no body"}</td></tr>`;
    })
    .join("");
  // Each status's own examples: a named one per problem code where the document gives them, else the schema's.
  const examples = responses
    .filter(([, r]) => r.content)
    .flatMap(([status, r]) => {
      const [type, content] = Object.entries<Json>(r.content)[0]!;
      const named = Object.entries<Json>(content.examples ?? {});
      if (named.length === 0) return [{ status, type, name: "", value: content.example ?? exampleOf(doc, content.schema) }];
      return named.map(([name, example]) => ({ status, type, name, value: example.value }));
    })
    .map(({ status, type, name, value }, i) => {
      const named = name ? ` data-example="${esc(name)}"` : "";
      const label = name ? ` <code>${esc(name)}</code>` : "";
      return `<details${i === 0 ? " open" : ""} data-status="${esc(status)}"${named}><summary><code>${esc(status)}</code>${label} <small>${esc(type)}</small></summary>${json(value)}</details>`;
    })
    .join("");
  return `<section class="op" id="${esc(id)}" data-operation="${esc(id)}">
<h3><span class="m ${esc(method)}">${esc(method.toUpperCase())}</span> <code class="path">${esc(path)}</code></h3>
<p class="summary"><strong>${esc(op.summary)}</strong></p>${paragraphs(op.description)}
<p class="auth">Auth: ${auth}</p>
${params ? `<h4>Parameters</h4><table><thead><tr><th>name</th><th>type</th><th>meaning</th><th>example</th></tr></thead><tbody>${params}</tbody></table>` : ""}
${body ? `<h4>Request body <small>application/json${op.requestBody.required ? ", required" : ""}</small></h4>${paragraphs(resolveRef(doc, body)?.description)}${fieldRows(doc, body)}<p class="label">Example</p>${json(bodyContent.example ?? exampleOf(doc, body))}` : ""}
<h4>Responses</h4><table><thead><tr><th>status</th><th>meaning</th><th>body</th></tr></thead><tbody>${responseRows}</tbody></table>
${examples ? `<p class="label">Examples</p>${examples}` : ""}
<p class="label">Try it</p>${curl(doc, path, method, op, body)}
</section>`;
}

function errorSection(doc: Json): string {
  const problem = doc.components?.schemas?.Problem as Json | undefined;
  const code = problem?.properties?.code as Json | undefined;
  if (!code?.enum) return "";
  const meanings: Record<string, string> = code["x-enumDescriptions"] ?? {};
  const rows = (code.enum as string[])
    .map((c) => {
      const [, status = "", meaning = meanings[c] ?? ""] = /^(\d{3}): ([\s\S]*)$/.exec(meanings[c] ?? "") ?? [];
      return `<tr id="${esc(errorAnchor(c))}"><td><code>${esc(c)}</code></td><td><code class="s s${esc(status[0] ?? "")}">${esc(status)}</code></td><td>${md(meaning)}</td></tr>`;
    })
    .join("");
  return `<h2 id="errors">Errors</h2>
<p>Every 4xx and 5xx answer is <code>application/problem+json</code> (RFC 9457) with a stable <code>code</code> to branch on; <code>detail</code> is for people. Every 401 carries <code>WWW-Authenticate: Bearer</code>. See <a href="#schema-Problem">Problem</a>.</p>
<table><thead><tr><th>code</th><th>status</th><th>meaning</th></tr></thead><tbody>${rows}</tbody></table>`;
}

const CSS = `
*{box-sizing:border-box}body{font:15px/1.55 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;display:flex;color:#1d2330}
nav{width:17rem;flex:none;padding:1rem;background:#f4f5f8;height:100vh;overflow:auto;position:sticky;top:0;border-right:1px solid #e3e5ea}
nav ul{list-style:none;padding:0;margin:.25rem 0 1rem}nav li{margin:.15rem 0}nav a{color:#334;text-decoration:none;font-size:13px}nav a:hover{text-decoration:underline}
nav .t{font-size:11px;text-transform:uppercase;letter-spacing:.05em;color:#667;margin-top:.75rem}
main{flex:1;min-width:0;padding:1rem 2.5rem 4rem;max-width:64rem}
h1{margin:.5rem 0}h2{margin-top:2.5rem;border-bottom:2px solid #e3e5ea;padding-bottom:.25rem}h3{margin:.25rem 0}h4{margin:1.1rem 0 .3rem}
table{border-collapse:collapse;width:100%;margin:.4rem 0;font-size:14px}td,th{border-bottom:1px solid #e3e5ea;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{font-size:12px;color:#556;text-transform:uppercase;letter-spacing:.03em}
code{font:13px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f4f5f8;border-radius:3px;padding:0 .2rem}
pre{background:#1d2330;color:#e8eaf0;padding:.75rem 1rem;border-radius:6px;overflow:auto;margin:.3rem 0}pre code{background:none;color:inherit;padding:0}
.m{font:600 12px ui-monospace,monospace;padding:2px 7px;border-radius:4px;color:#fff;background:#556;vertical-align:2px}
.get{background:#2f7d4f}.post{background:#2b5fb4}.patch{background:#a86b12}.delete{background:#b23a3a}
.op{border-top:1px solid #d7dae1;padding-top:1rem;margin-top:1.5rem}.summary{margin:.3rem 0 0}.auth{color:#445}
.req{color:#b23a3a;font-size:11px}.c{color:#667}.or{font-style:italic;color:#667;margin:.2rem 0}.label{font-weight:600;margin:.8rem 0 .2rem}
.s{font-weight:600}.s2{color:#2f7d4f}.s4{color:#a14a00}.s5{color:#b23a3a}
details{margin:.2rem 0}summary{cursor:pointer}
a{color:#2b5fb4}
@media (max-width:800px){body{display:block}nav{width:auto;height:auto;position:static}main{padding:1rem}}`;

export function renderReference(doc: Json): string {
  const ops = Object.entries<Json>(doc.paths ?? {}).flatMap(([path, item]) =>
    Object.entries<Json>(item)
      .filter(([method]) => ["get", "put", "post", "patch", "delete", "head", "options"].includes(method))
      .map(([method, op]) => ({ path, method, op })),
  );
  const tags: Json[] = [...(doc.tags ?? [])];
  for (const { op } of ops) for (const t of op.tags ?? ["Other"]) if (!tags.some((x) => x.name === t)) tags.push({ name: t });
  const inTag = (tag: string) => ops.filter(({ op }) => (op.tags ?? ["Other"])[0] === tag);
  const used = tags.filter((t) => inTag(t.name).length > 0);

  const nav = used
    .map(
      (t) =>
        `<p class="t">${esc(t.name)}</p><ul>${inTag(t.name)
          .map(
            ({ path, method, op }) =>
              `<li><a href="#${esc(opId(method, path, op))}">${esc(op.summary ?? `${method.toUpperCase()} ${path}`)}</a></li>`,
          )
          .join("")}</ul>`,
    )
    .join("");
  const schemaNames = Object.keys(doc.components?.schemas ?? {});
  const routes = used
    .map(
      (t) =>
        `<h2 id="tag-${esc(anchor(t.name))}">${esc(t.name)}</h2>${paragraphs(t.description)}${inTag(t.name)
          .map(({ path, method, op }) => operation(doc, path, method, op))
          .join("")}`,
    )
    .join("");
  const securitySchemes = Object.entries<Json>(doc.components?.securitySchemes ?? {})
    .map(
      ([name, s]) =>
        `<li id="auth-${esc(name)}"><strong>${esc(SCHEME_LABEL[name] ?? name)}</strong> (<code>${esc(name)}</code>): ${md(s.description)}<br><code>Authorization: Bearer ${esc(name === "apiKey" ? "sk_live_…" : "eyJhbGciOiJIUzI1NiIs…")}</code></li>`,
    )
    .join("");
  const schemas = Object.entries<Json>(doc.components?.schemas ?? {})
    .map(
      ([name, s]) =>
        `<section id="schema-${esc(name)}"><h3>${esc(name)}</h3>${paragraphs(s.description)}${fieldRows(doc, s) || `<p>${typeOf(doc, s)}</p>`}</section>`,
    )
    .join("");

  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(doc.info?.title)} API reference</title><link rel="icon" href="data:,"><style>${CSS}</style></head>
<body><nav aria-label="Contents"><strong>${esc(doc.info?.title)}</strong> <small>v${esc(doc.info?.version)}</small>
<ul><li><a href="#overview">Overview</a></li><li><a href="#authentication">Authentication</a></li><li><a href="#errors">Errors</a></li></ul>${nav}
<p class="t">Schemas</p><ul>${schemaNames.map((n) => `<li><a href="#schema-${esc(n)}">${esc(n)}</a></li>`).join("")}</ul>
<p><a href="/openapi.json">openapi.json</a> · <a href="/console">Console</a></p></nav>
<main><h1 id="overview">${esc(doc.info?.title)} API reference</h1>${paragraphs(doc.info?.description)}
<p>In the examples, <code>$BASE</code> is this service's address, <code>$KEY</code> an API key and <code>$TOKEN</code> an admin's console session token.</p>
<h2 id="authentication">Authentication</h2><p>Every call but <code>/health</code> sends <code>Authorization: Bearer &lt;credential&gt;</code>; the scheme word is case-insensitive.</p><ul>${securitySchemes}</ul>
${errorSection(doc)}
${routes}
<h2 id="schemas">Schemas</h2>${schemas}</main></body></html>`;
}
