const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/**
 * Text made safe for HTML element content and for quoted attribute values:
 * the five characters that could close either, or start markup, become
 * entities. The one escaping function of the server-rendered pages (/docs and
 * the console page); null and undefined render as nothing.
 */
export function escapeHtml(value: unknown): string {
  return String(value ?? "").replace(/[&<>"']/g, (ch) => ENTITIES[ch]!);
}
