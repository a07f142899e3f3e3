// docs/configuration.md against the code and wrangler.toml: every variable,
// secret and binding is named on all sides that should have it, with the
// same default and in the same wrangler.toml section. Reads the files as
// text (Node, not workerd), and finds the code's names wherever they live
// under src/, so moving a file does not break the check.
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { describe, expect, test } from "vitest";

const root = resolve(import.meta.dirname, "../..");
const read = (path) => readFileSync(join(root, path), "utf8");

/** Every .ts file under src/, except the console's browser code (it has no worker env). */
function sourceFiles(dir = "src") {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return path === "src/console/app" ? [] : sourceFiles(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

const stripComments = (text) => text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");

// --- docs/configuration.md -------------------------------------------------

const VARIABLE_KINDS = new Set(["var", "optional var", "secret"]);

/** The rows of every table whose first column holds a `NAME`, as {column: cell} objects. */
function documentedRows(markdown) {
  const rows = [];
  let header = null;
  for (const line of markdown.split("\n")) {
    if (!line.startsWith("|")) {
      header = null;
      continue;
    }
    const cells = line
      .slice(1, line.trimEnd().endsWith("|") ? line.trimEnd().length - 1 : undefined)
      .split("|")
      .map((c) => c.trim());
    if (header === null) {
      header = cells.map((c) => c.toLowerCase());
      continue;
    }
    if (cells.every((c) => /^:?-+:?$/.test(c))) continue;
    const name = cells[0]?.match(/^`([A-Z][A-Z0-9_]*)`$/)?.[1];
    if (!name) continue;
    rows.push({ ...Object.fromEntries(header.map((h, i) => [h, cells[i] ?? ""])), name });
  }
  return rows;
}

// --- wrangler.toml -----------------------------------------------------------

/**
 * The subset of TOML wrangler.toml uses: [table], [[array of tables]], and
 * one-line `key = value` with strings, numbers, booleans, inline tables and
 * arrays. Anything else throws, so a new construct fails here loudly instead
 * of being misread.
 */
function parseToml(text) {
  const tables = {}; // "vars" → {…}
  const arrays = {}; // "d1_databases" → [{…}, …]
  let current = {};
  tables[""] = current;
  text.split("\n").forEach((raw, index) => {
    const line = withoutComment(raw).trim();
    if (line === "") return;
    const fail = (why) => {
      throw new Error(`wrangler.toml line ${index + 1}: ${why}: ${raw}`);
    };
    let m = line.match(/^\[\[([A-Za-z0-9_.-]+)\]\]$/);
    if (m) {
      current = {};
      (arrays[m[1]] ??= []).push(current);
      return;
    }
    m = line.match(/^\[([A-Za-z0-9_.-]+)\]$/);
    if (m) {
      current = tables[m[1]] ??= {};
      return;
    }
    m = line.match(/^([A-Za-z0-9_-]+)\s*=\s*(.+)$/);
    if (!m) fail("not understood");
    const reader = valueReader(m[2], fail);
    current[m[1]] = reader.value();
    if (!reader.done()) fail("unexpected text after the value");
  });
  return { tables, arrays };
}

function withoutComment(line) {
  let quote = null;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quote) {
      if (ch === "\\" && quote === '"') i++;
      else if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === "#") return line.slice(0, i);
  }
  return line;
}

function valueReader(src, fail) {
  let i = 0;
  const ws = () => {
    while (src[i] === " " || src[i] === "\t") i++;
  };
  const value = () => {
    ws();
    const ch = src[i];
    if (ch === '"') {
      let out = "";
      for (i++; src[i] !== '"'; i++) {
        if (i >= src.length) fail("unterminated string");
        if (src[i] === "\\") {
          const e = src[++i];
          out += { n: "\n", t: "\t", '"': '"', "\\": "\\" }[e] ?? fail(`escape \\${e}`);
        } else out += src[i];
      }
      i++;
      return out;
    }
    if (ch === "'") {
      const end = src.indexOf("'", i + 1);
      if (end === -1) fail("unterminated string");
      const out = src.slice(i + 1, end);
      i = end + 1;
      return out;
    }
    if (ch === "[" || ch === "{") {
      const close = ch === "[" ? "]" : "}";
      const out = ch === "[" ? [] : {};
      i++;
      for (;;) {
        ws();
        if (src[i] === close) {
          i++;
          return out;
        }
        if (ch === "[") out.push(value());
        else {
          const key = src.slice(i).match(/^([A-Za-z0-9_-]+)\s*=/);
          if (!key) fail("bad inline table");
          i += key[0].length;
          out[key[1]] = value();
        }
        ws();
        if (src[i] === ",") i++;
        else if (src[i] !== close) fail(`expected , or ${close}`);
      }
    }
    const word = src.slice(i).match(/^(true|false|-?\d[\d_]*(?:\.\d+)?)/);
    if (!word) fail("unknown value");
    i += word[0].length;
    return word[0] === "true" ? true : word[0] === "false" ? false : Number(word[0].replaceAll("_", ""));
  };
  return {
    value,
    done: () => {
      ws();
      return i === src.length;
    },
  };
}

/** Sections whose entries name their binding with `name` rather than `binding`. */
const NAME_KEYED = new Set(["durable_objects.bindings", "ratelimits", "send_email", "unsafe.bindings"]);

/** Every binding in wrangler.toml: name → {section, entry}. */
function wranglerBindings({ tables, arrays }) {
  const out = new Map();
  const add = (section, entry, display) => {
    const name = NAME_KEYED.has(section) ? entry.name : entry.binding;
    if (typeof name === "string") out.set(name, { section: display, entry });
  };
  for (const [section, entry] of Object.entries(tables)) if (section !== "" && section !== "vars") add(section, entry, `[${section}]`);
  for (const [section, entries] of Object.entries(arrays)) for (const entry of entries) add(section, entry, `[[${section}]]`);
  return out;
}

// --- the code ----------------------------------------------------------------

/** Member names of `interface <name>` declared in src/, with the members of interfaces it extends that are also in src/. */
function interfaceMembers(files, name, seen = new Set()) {
  const declarations = [];
  for (const file of files) {
    const text = stripComments(read(file));
    const re = new RegExp(`export\\s+interface\\s+${name}\\b([^{]*)\\{`, "g");
    for (const m of text.matchAll(re)) declarations.push({ file, text, start: m.index + m[0].length, heritage: m[1] });
  }
  if (declarations.length !== 1) {
    throw new Error(`expected one exported interface ${name} in src/, found ${declarations.map((d) => d.file).join(", ") || "none"}`);
  }
  const [{ file, text, start, heritage }] = declarations;
  let depth = 1;
  let end = start;
  while (depth > 0) {
    if (end >= text.length) throw new Error(`interface ${name} in ${file} never closes`);
    if (text[end] === "{") depth++;
    else if (text[end] === "}") depth--;
    end++;
  }
  const body = text.slice(start, end - 1);
  const members = new Set();
  // Members at the interface's own depth only (not fields of nested object types).
  let level = 0;
  for (const line of body.split("\n")) {
    if (level === 0) {
      const m = line.match(/^\s*(?:readonly\s+)?([A-Za-z_$][\w$]*)\??\s*:/);
      if (m) members.add(m[1]);
    }
    for (const ch of line) level += ch === "{" ? 1 : ch === "}" ? -1 : 0;
  }
  seen.add(name);
  for (const parent of heritage.replace(/^\s*extends\s+/, "").split(",")) {
    const parentName = parent.trim().match(/^([A-Za-z_$][\w$]*)$/)?.[1];
    if (parentName && !seen.has(parentName)) for (const m of interfaceMembers(files, parentName, seen)) members.add(m);
  }
  return { file, members };
}

/**
 * The variables the options parser reads: the upper-case names written as
 * strings or object keys in the files that declare `interface AppOptions` or
 * define `parseOptions`.
 */
function parsedOptionNames(files) {
  const parsers = files.filter((f) => /export\s+interface\s+AppOptions\b|function\s+parseOptions\b/.test(read(f)));
  if (parsers.length === 0) throw new Error("no file in src/ declares `interface AppOptions` or defines `parseOptions`");
  const names = new Set();
  for (const file of parsers) {
    const text = stripComments(read(file));
    for (const m of text.matchAll(/"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"|^\s*([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\s*:/gm)) names.add(m[1] ?? m[2]);
  }
  return { file: parsers.join(", "), names };
}

/** Names read straight off an env object anywhere in src/: `env.NAME`, `env?.NAME`, `env["NAME"]`. */
function directEnvReads(files) {
  const names = new Map(); // name → first file
  for (const file of files) {
    const text = stripComments(read(file));
    for (const m of text.matchAll(/\benv\??\.([A-Z][A-Z0-9_]*)\b|\benv\[\s*["']([A-Z][A-Z0-9_]*)["']\s*\]/g)) {
      const name = m[1] ?? m[2];
      if (!names.has(name)) names.set(name, file);
    }
  }
  return names;
}

// --- the checks --------------------------------------------------------------

const missing = (from, notIn) => [...from].filter((n) => !notIn.has(n)).sort();
/** A default cell: `"60"` → 60's text, "none"/"unset" → undefined. */
const defaultOf = (cell) => cell?.match(/^`"(.*)"`$/)?.[1];

describe("docs/configuration.md agrees with the code and wrangler.toml", () => {
  const rows = documentedRows(read("docs/configuration.md"));
  const variables = rows.filter((r) => VARIABLE_KINDS.has(r.kind));
  const bindingRows = rows.filter((r) => !VARIABLE_KINDS.has(r.kind));
  const documented = new Set(rows.map((r) => r.name));

  const toml = parseToml(read("wrangler.toml"));
  const vars = toml.tables.vars ?? {};
  const bindings = wranglerBindings(toml);

  const files = sourceFiles();
  const env = interfaceMembers(files, "Env");
  const options = parsedOptionNames(files);
  const direct = directEnvReads(files);
  const readByCode = new Set([...options.names, ...direct.keys()]);

  test("the page documents names, each once", () => {
    expect(rows.length).toBeGreaterThan(0);
    const seen = rows.map((r) => r.name);
    expect(seen.filter((n, i) => seen.indexOf(n) !== i)).toEqual([]);
  });

  test(`every member of Env (${relative(root, join(root, env.file))}) is documented, and nothing else`, () => {
    expect(missing(env.members, documented), "in Env, missing from docs/configuration.md").toEqual([]);
    expect(missing(documented, env.members), "in docs/configuration.md, not in Env").toEqual([]);
  });

  test("every documented name is read by the code, and every name the code reads is documented", () => {
    expect(missing(documented, readByCode), "documented but never read (options parser or env.NAME)").toEqual([]);
    expect(missing(options.names, documented), `parsed in ${options.file}, missing from the page`).toEqual([]);
    expect(missing(direct.keys(), documented), "read as env.NAME in src/, missing from the page").toEqual([]);
  });

  test("wrangler.toml [vars] are exactly the rows of kind `var`, with the documented defaults", () => {
    const kindVar = variables.filter((r) => r.kind === "var");
    expect(missing(Object.keys(vars), documented), "in wrangler.toml [vars], missing from the page").toEqual([]);
    expect(missing(new Set(kindVar.map((r) => r.name)), new Set(Object.keys(vars))), "documented as `var`, not in [vars]").toEqual([]);
    for (const row of variables.filter((r) => r.kind !== "var")) {
      expect(vars[row.name], `${row.name} is documented as \`${row.kind}\`, so it must not be in [vars]`).toBeUndefined();
    }
    for (const row of kindVar) {
      expect(defaultOf(row.default), `default of ${row.name} on the page`).toBe(String(vars[row.name]));
    }
  });

  test("no secret appears anywhere in wrangler.toml", () => {
    const text = read("wrangler.toml");
    for (const row of variables.filter((r) => r.kind === "secret")) expect(text).not.toContain(row.name);
  });

  test("wrangler.toml's bindings are exactly the documented ones, each in its documented section", () => {
    expect(missing(bindings.keys(), documented), "bound in wrangler.toml, missing from the page").toEqual([]);
    expect(missing(new Set(bindingRows.map((r) => r.name)), new Set(bindings.keys())), "documented, not bound in wrangler.toml").toEqual(
      [],
    );
    for (const row of bindingRows) {
      const bound = bindings.get(row.name);
      if (!bound) continue;
      expect(row["wrangler.toml"], `section of ${row.name}`).toBe(`\`${bound.section}\``);
      if (bound.entry.class_name) expect(row.kind, `Durable Object class of ${row.name}`).toContain(`\`${bound.entry.class_name}\``);
      if (bound.entry.simple) {
        expect(row.kind, `limit of ${row.name}`).toContain(`\`limit = ${bound.entry.simple.limit}\``);
        expect(row.kind, `period of ${row.name}`).toContain(`\`period = ${bound.entry.simple.period}\``);
      }
      if (bound.entry.directory) expect(row.kind, `directory of ${row.name}`).toContain(`\`${bound.entry.directory}\``);
    }
  });

  test("the Retry-After of the failed-authentication throttle matches its period", () => {
    const throttle = bindings.get("AUTH_FAILURES")?.entry.simple;
    expect(throttle, "[[ratelimits]] AUTH_FAILURES").toBeDefined();
    expect(Number(vars.AUTH_FAILURE_PERIOD_SECONDS)).toBe(throttle.period);
  });

  test(".dev.vars.example names only documented variables", () => {
    const names = [...read(".dev.vars.example").matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]);
    expect(names.length).toBeGreaterThan(0);
    expect(missing(new Set(names), new Set(variables.map((r) => r.name)))).toEqual([]);
  });
});
