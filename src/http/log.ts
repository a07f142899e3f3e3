/**
 * Structured one-line JSON logs. Callers pass ids, never credentials: no key,
 * no session token and no Authorization header is ever handed to this function.
 */
export function log(level: "info" | "warn" | "error", event: string, fields: Record<string, unknown> = {}): void {
  const line = JSON.stringify({ level, event, ...fields });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}
