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

/**
 * An error as one bounded log string. drizzle's "Failed query: <sql>\nparams:
 * <values>" would write bound values (key hashes, names, client IPs) into the
 * logs: keep the SQL, drop the values.
 */
export function errorMessage(error: unknown): string {
  const cause = error instanceof Error && error.cause instanceof Error ? ` (${error.cause.message})` : "";
  const message = (error instanceof Error ? error.message : String(error)).replace(/\nparams: [\s\S]*$/, "");
  return message.slice(0, 300) + cause.slice(0, 300);
}
