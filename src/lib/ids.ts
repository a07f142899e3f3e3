import { randomBase62 } from "./base62";

/** Opaque resource ids: a type prefix and 24 random base62 characters. */
export const newId = (prefix: "key" | "src" | "evt" | "sig" | "wh" | "msg") => `${prefix}_${randomBase62(24)}`;
