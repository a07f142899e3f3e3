import { signatureHeaders } from "./signing";

/** How long a receiver has to answer: a 2xx later than this is a failure (and the attempt is retried). */
export const ATTEMPT_TIMEOUT_MS = 10_000;
const USER_AGENT = "owlish-keys-webhooks/1";

/** What one attempt came to. `status`: the receiver's HTTP status, null when none came (timeout, network). */
export type AttemptResult =
  | { outcome: "delivered"; status: number }
  | { outcome: "gone"; status: 410 }
  | { outcome: "failed"; status: number | null; error: "timeout" | "network" | null };

export interface SendOptions {
  fetch?: typeof fetch;
  timeoutMs?: number;
}

/**
 * POSTs one signed delivery. A 2xx is delivered; 410 Gone means the receiver
 * wants no more (the endpoint is disabled); anything else fails, redirects
 * included: they are not followed (`redirect: "manual"`), so a receiver
 * cannot send a signed event on to an address nobody checked. The answer's
 * body is never read.
 */
export async function sendDelivery(
  url: string,
  delivery: { id: string; payload: string },
  secret: string,
  nowMs: number,
  options: SendOptions = {},
): Promise<AttemptResult> {
  const headers = {
    "Content-Type": "application/json",
    "User-Agent": USER_AGENT,
    ...(await signatureHeaders(secret, delivery.id, nowMs, delivery.payload)),
  };
  const fetcher = options.fetch ?? globalThis.fetch;
  let response: Response;
  try {
    response = await fetcher(url, {
      method: "POST",
      headers,
      body: delivery.payload,
      redirect: "manual",
      signal: AbortSignal.timeout(options.timeoutMs ?? ATTEMPT_TIMEOUT_MS),
    });
  } catch (error) {
    const timedOut = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
    return { outcome: "failed", status: null, error: timedOut ? "timeout" : "network" };
  }
  await response.body?.cancel().catch(() => {});
  const status = response.status;
  if (status >= 200 && status < 300) return { outcome: "delivered", status };
  if (status === 410) return { outcome: "gone", status: 410 };
  return { outcome: "failed", status, error: null };
}
