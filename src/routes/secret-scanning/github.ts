import { z } from "@hono/zod-openapi";
import { systemActor } from "../../auth/actor";
import { jsonResponse } from "../../http/openapi";
import { Problem } from "../../http/problem";
import { revokeLeakedKeys } from "../../secret-scanning/leaked-keys";
import { publicKeySource } from "../../secret-scanning/public-keys";
import { MAX_REPORT_BYTES, MAX_REPORT_TOKENS, parseReport, verifyReport } from "../../secret-scanning/report";
import { changeDeps } from "../change-deps";
import { githubSignedOperation } from "../operation";

const EXAMPLE_TOKEN_HASH = "9f2b7c1d4e6a8b0c2d4e6f8a0b1c3d5e7f9a1b3c5d7e9f0a2b4c6d8e0f1a3b5c";

const ReportEntryDoc = z
  .object({
    token: z.string().openapi({
      description: "The string GitHub found that matches our key pattern.",
      example: "sk_live_4fQzK8mN2pR6tV0xB3dF7hJ1lZ5cA9eG2b1c3D",
    }),
    type: z.string().openapi({ description: "The token type we registered with GitHub.", example: "owlish_api_key" }),
    url: z.string().optional().openapi({
      description: "Where GitHub found it; recorded in the revoke's audit event.",
      example: "https://github.com/octo/demo/blob/abc123/config.env#L3",
    }),
    source: z.string().optional().openapi({ description: "What kind of place it was found in.", example: "content" }),
  })
  .openapi("SecretScanningToken");

const ReportDoc = z
  .array(ReportEntryDoc)
  .max(MAX_REPORT_TOKENS)
  .openapi("SecretScanningReport", {
    description: `The tokens GitHub found in public, at most ${MAX_REPORT_TOKENS} per report.`,
    example: [
      {
        token: "sk_live_4fQzK8mN2pR6tV0xB3dF7hJ1lZ5cA9eG2b1c3D",
        type: "owlish_api_key",
        url: "https://github.com/octo/demo/blob/abc123/config.env#L3",
        source: "content",
      },
    ],
  });

const TokenLabelSchema = z
  .object({
    token_hash: z.string().openapi({
      description: "SHA-256 of the token, lowercase hex (GitHub's field names, hence snake_case).",
      example: EXAMPLE_TOKEN_HASH,
    }),
    token_type: z.string().openapi({ description: "The token's `type`, as reported.", example: "owlish_api_key" }),
    label: z.enum(["true_positive", "false_positive"]).openapi({
      description: "`true_positive`: one of our keys, now revoked (or revoked before); `false_positive`: not one of our keys.",
      example: "true_positive",
    }),
  })
  .openapi("SecretScanningLabel");

const LabelsSchema = z.array(TokenLabelSchema).openapi("SecretScanningLabels", {
  description: "One entry per reported token, in the report's order.",
  example: [{ token_hash: EXAMPLE_TOKEN_HASH, token_type: "owlish_api_key", label: "true_positive" }],
});

const headerParameter = (name: string, description: string, example: string) => ({
  name,
  in: "header" as const,
  required: true,
  description,
  schema: { type: "string" as const, example },
});

export const reportLeakedKeys = githubSignedOperation(
  {
    method: "post",
    path: "/v1/secret-scanning/github",
    tags: ["Secret scanning"],
    operationId: "reportLeakedKeys",
    summary: "Receive leaked keys from GitHub secret scanning",
    description: [
      "GitHub's secret scanning partner endpoint. GitHub signs the raw body; a request whose signature is missing or does not verify with GitHub's published key answers 401 `invalid_signature` and changes nothing.",
      "Every reported token that is one of our keys and still active is revoked at once (`revocationReason` `leaked`, `revokedBy` `github_secret_scanning`), whichever workspace it belongs to, with the URL where it was found in the audit event. Replays change nothing and answer the same labels.",
      "No bearer credential: the signature is the authentication.",
    ].join(" "),
    parameters: [
      headerParameter(
        "Github-Public-Key-Identifier",
        "Which of GitHub's secret scanning public keys signed the report.",
        "bcb53661c06b4728e59d897fb6165d5c9cda0fd9cdf9d09ead458168deb7518c",
      ),
      headerParameter(
        "Github-Public-Key-Signature",
        "Base64 of the ASN.1 DER ECDSA P-256 / SHA-256 signature of the raw request body.",
        "MEQCIQDaMKqrGnE27S0kgMrEK0eYBmyG0LeZismAEz/BgZyt7AIfXt9fErtRS4XaeSt/AO1RtBY66YcAdjxji410VQV4xg==",
      ),
    ],
    request: {
      // A plain reference, not a zod schema: the body must reach the handler
      // as raw bytes, unparsed, because the signature covers those exact bytes
      // (re-serialised JSON would not verify), and because nothing about it
      // may be judged before the signature holds.
      body: { required: true, content: { "application/json": { schema: { $ref: "#/components/schemas/SecretScanningReport" } } } },
    },
    responses: { 200: jsonResponse(LabelsSchema, "Each token's label; our keys among them are revoked.") },
  },
  async (c) => {
    // The raw bytes, first: the signature is over them.
    const body = new Uint8Array(await c.req.arrayBuffer());
    if (body.byteLength > MAX_REPORT_BYTES) throw new Problem("payload_too_large", `The report exceeds ${MAX_REPORT_BYTES} bytes.`);
    await verifyReport(
      () => publicKeySource(c.var.options.secretScanningKeys, c.env.KEY_CACHE),
      body,
      c.req.header("Github-Public-Key-Identifier"),
      c.req.header("Github-Public-Key-Signature"),
    );

    // Only now is the body trusted enough to be parsed and acted on.
    const report = parseReport(body);
    // Each key is revoked, and audited, in its own workspace.
    const labels = await revokeLeakedKeys(changeDeps(c), report, systemActor(c, "github_secret_scanning"));
    return c.json(labels, 200);
  },
  {
    problems: ["invalid_request", "invalid_signature", "payload_too_large", "unavailable"],
    // The body is taken raw; its schema is listed for the document.
    components: { SecretScanningReport: ReportDoc },
  },
);
