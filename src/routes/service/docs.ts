import { renderReference } from "../../docs/reference-page";
import { REFERENCE_PATH } from "../../http/problem";
import type { Page } from "../page";

/** The API reference page, rendered from the OpenAPI document once. */
export const docsPage: Page = {
  method: "get",
  path: REFERENCE_PATH,
  handler: (reference) => {
    let html: string | undefined;
    return (c) => c.html((html ??= renderReference(reference.document())));
  },
};
