/**
 * How much of a value an error message (a problem's `detail` or
 * `errors[].message`, a log line) may quote from what a client or a var
 * supplied: 12 characters, as much of a key as its displayed prefix
 * (`sk_live_4fQz`). Enough to recognise a typo; a secret pasted into the
 * wrong field never comes back, or reaches a log, whole or nearly.
 */
export const QUOTE_LIMIT = 12;

/** `value`, trimmed, as a JSON string of at most QUOTE_LIMIT characters (an ellipsis after it when cut). */
export function quoteInput(value: string): string {
  const text = value.trim();
  if (text.length <= QUOTE_LIMIT) return JSON.stringify(text);
  // Cut in UTF-16 units, as the limit counts; never half a surrogate pair.
  const cut = text.slice(0, QUOTE_LIMIT).replace(/[\uD800-\uDBFF]$/, "");
  return `${JSON.stringify(cut).slice(0, -1)}…"`;
}
