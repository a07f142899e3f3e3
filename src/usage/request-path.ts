/** Longest path the request log keeps, in UTF-16 units; a longer one is cut and ends in "…". */
export const MAX_LOGGED_PATH = 256;

/** Anything shaped like one of our keys (see keys/format/key.ts), in any letter case. */
const KEY_SHAPED = /sk_live_[0-9a-z]*/gi;
const HAS_KEY_PREFIX = /sk_live_/i;

/**
 * The path the request log keeps for a call: the URL's path as the router saw
 * it (percent-decoded except for reserved characters, never the query
 * string), with anything shaped like a key replaced by `sk_live_…` (a client
 * that put its key in the path must not find it in the log), at most
 * MAX_LOGGED_PATH long. Runs on every call with a key: a regex test and
 * nothing else for an ordinary path.
 */
export function loggedPath(path: string): string {
  let out = HAS_KEY_PREFIX.test(path) ? path.replace(KEY_SHAPED, "sk_live_…") : path;
  if (out.length > MAX_LOGGED_PATH) {
    let end = MAX_LOGGED_PATH - 1;
    // Never split a surrogate pair: half a character is not text.
    const code = out.charCodeAt(end - 1);
    if (code >= 0xd800 && code <= 0xdbff) end--;
    out = `${out.slice(0, end)}…`;
  }
  return out;
}
