import { z } from "zod";
import { fieldErrors } from "../http/openapi";
import { invalidRequest, Problem } from "../http/problem";
import { type PublicKeySource, PublicKeysUnavailable } from "./public-keys";
import { verifyGithubSignature } from "./signature";

/**
 * The body of a GitHub secret scanning alert: a JSON array of the tokens it
 * found. Parsed only after the signature has verified, from the very bytes
 * that were signed.
 */

/** Tokens per report at most; GitHub sends far fewer in one call. */
export const MAX_REPORT_TOKENS = 1_000;
/**
 * Bytes per report at most: 1 000 entries with URLs of several hundred
 * characters fit well within it. Checked on the raw body before anything else,
 * so an unsigned flood costs no signature check.
 */
export const MAX_REPORT_BYTES = 1024 * 1024;

/**
 * Lenient on purpose beyond `token` and `type`: a report refused for an odd
 * URL would be retried by GitHub and leave the leaked keys in it working.
 * Unknown fields are ignored.
 */
export const ReportEntrySchema = z.object({
  token: z.string(),
  type: z.string(),
  url: z.string().optional(),
  source: z.string().optional(),
});
export type ReportEntry = z.infer<typeof ReportEntrySchema>;

export function parseReport(body: Uint8Array): ReportEntry[] {
  let json: unknown;
  try {
    // fatal: bytes that are not UTF-8 are malformed, not silently replaced.
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(body));
  } catch {
    throw invalidRequest("The report is not valid JSON.", [{ path: "", message: "Malformed JSON" }]);
  }
  if (!Array.isArray(json)) throw invalidRequest("The report must be a JSON array of tokens.", [{ path: "", message: "Expected array" }]);
  // Counted before the entries are validated: no work is spent on an oversized report.
  if (json.length > MAX_REPORT_TOKENS) {
    throw new Problem("payload_too_large", `A report may hold at most ${MAX_REPORT_TOKENS} tokens; this one holds ${json.length}.`);
  }
  const parsed = z.array(ReportEntrySchema).safeParse(json);
  if (!parsed.success) throw invalidRequest("The report is not valid.", fieldErrors(parsed.error));
  return parsed.data;
}

/** The report is GitHub's: signed, over exactly these bytes, by a key GitHub lists under this identifier. */
export async function verifyReport(
  keys: () => PublicKeySource,
  body: Uint8Array,
  identifier: string | undefined,
  signature: string | undefined,
) {
  if (!identifier || !signature) {
    throw new Problem("invalid_signature", "The Github-Public-Key-Identifier and Github-Public-Key-Signature headers are required.");
  }
  let pem: string | null;
  try {
    pem = await keys().keyFor(identifier);
  } catch (error) {
    // Without GitHub's keys nothing can be verified: 503, and GitHub retries later
    // (Retry-After: when the keys will next be fetched).
    if (error instanceof PublicKeysUnavailable) {
      throw new Problem(
        "unavailable",
        "GitHub's public keys could not be obtained; nothing was done. Retry later.",
        {},
        {
          "Retry-After": String(error.retryAfterSeconds),
        },
      );
    }
    throw error;
  }
  // An unknown identifier and a bad signature get the same answer: neither is GitHub.
  if (pem === null || !(await verifyGithubSignature(body, signature, pem))) {
    throw new Problem("invalid_signature", "The report's signature does not verify.");
  }
}
