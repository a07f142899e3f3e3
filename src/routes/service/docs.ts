import { renderReference } from "../../docs/reference-page";
import type { Page } from "../page";

/** The API reference page, rendered from the OpenAPI document once. */
export const docsPage: Page = {
  method: "get",
  path: "/docs",
  handler: (reference) => {
    let html: string | undefined;
    return (c) => c.html((html ??= renderReference(reference.document())));
  },
};
