import { Problem } from "../http/problem";

/**
 * The credential from `Authorization: Bearer <token>`. The scheme word is
 * case-insensitive (RFC 9110 §11.1); anything else is "missing".
 */
export function bearerToken(header: string | undefined): string {
  const match = header?.match(/^\s*bearer\s+(\S+)\s*$/i);
  if (!match) throw new Problem("missing_credentials", "Send Authorization: Bearer <token>.");
  return match[1]!;
}

export const invalidCredentials = (detail = "The credentials are not valid.") => new Problem("invalid_credentials", detail);
