/** Small DOM helpers. Text always goes in as text nodes: nothing here parses HTML. */

/** An element of the page by id. The page is static, so a missing id is a bug, reported at once. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from the console page`);
  return el as T;
}

export type Attrs = { text?: string; className?: string } & Record<string, string | boolean | null | undefined>;
export type Child = Node | string | null | undefined;

/**
 * A new element: `text` becomes its textContent, `className` its class, any
 * other attribute is set as given (true: present and empty; null, undefined
 * or false: absent). Children are nodes or strings (as text).
 */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs | null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value == null || value === false) continue;
    if (name === "text") el.textContent = String(value);
    else if (name === "className") el.className = String(value);
    else el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) {
    if (child == null) continue;
    el.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return el;
}

export function show(el: HTMLElement, visible: boolean): void {
  el.hidden = !visible;
}

/** Shows a field's or form's error message by id; an empty message hides it. */
export function fieldError(id: string, message: string): void {
  const el = byId(id);
  el.textContent = message;
  show(el, !!message);
}
