import { createApiKey } from "./api-keys/create";
import { getApiKey } from "./api-keys/get";
import { listApiKeys } from "./api-keys/list";
import { listApiKeyRequests } from "./api-keys/requests";
import { revokeApiKey } from "./api-keys/revoke";
import { rollApiKey } from "./api-keys/roll";
import { updateApiKey } from "./api-keys/update";
import { getApiKeyUsage } from "./api-keys/usage";
import { listAuditEvents } from "./audit-events/list";
import { consolePage, consoleSlash } from "./console/page";
import { getCallingKey } from "./key/get";
import { revokeCallingKey } from "./key/self-revoke";
import { getKeyAttention } from "./key-attention/get";
import { getKeyPolicy } from "./key-policy/get";
import { putKeyPolicy } from "./key-policy/put";
import { listApiKeyUsage } from "./key-usage/list";
import { kit } from "./kit";
import { keyOperation } from "./operation";
import type { Page } from "./page";
import { eraseWorkspaceRequestLog } from "./request-log/erase";
import { reportLeakedKeys } from "./secret-scanning/github";
import { docsPage } from "./service/docs";
import { health } from "./service/health";
import { openApiJson } from "./service/openapi";
import { createSource } from "./sources/create";
import { deleteSource } from "./sources/delete";
import { getSource } from "./sources/get";
import { listSources } from "./sources/list";
import { updateSource } from "./sources/update";
import { createWebhook } from "./webhooks/create";
import { deleteWebhook } from "./webhooks/delete";
import { listWebhookDeliveries } from "./webhooks/deliveries";
import { getWebhook } from "./webhooks/get";
import { listWebhooks } from "./webhooks/list";
import { retryWebhookDelivery } from "./webhooks/retry";
import { testWebhook } from "./webhooks/test";
import { updateWebhook } from "./webhooks/update";

/**
 * THE route list: every API operation the app mounts, one entry each, in the
 * order the OpenAPI document lists them. An entry is an Operation
 * (routes/operation.ts): method, path, auth kind, scope, operationId, and
 * the route config whose schemas and examples describe a valid request. The
 * app mounts exactly this list (src/app.ts), and the suites that must cover
 * every route (auth matrix, hostile input, faults, OpenAPI) iterate it: a new
 * operation is one file under routes/<resource>/ and one line here.
 *
 * GET /v1/key is defined once, in routes/key/get.ts, without schemas: the
 * edge app serves that definition as it is, and this list adds its OpenAPI
 * description (kit).
 */
export const OPERATIONS = [
  health,
  createApiKey,
  listApiKeys,
  getApiKey,
  revokeApiKey,
  updateApiKey,
  keyOperation(
    getCallingKey.scope,
    { method: getCallingKey.method, path: getCallingKey.path, ...getCallingKey.spec(kit) },
    getCallingKey.handler,
  ),
  listSources,
  getSource,
  createSource,
  updateSource,
  deleteSource,
  listAuditEvents,
  getApiKeyUsage,
  listApiKeyRequests,
  eraseWorkspaceRequestLog,
  listApiKeyUsage,
  getKeyAttention,
  rollApiKey,
  revokeCallingKey,
  reportLeakedKeys,
  createWebhook,
  listWebhooks,
  getWebhook,
  updateWebhook,
  deleteWebhook,
  testWebhook,
  listWebhookDeliveries,
  retryWebhookDelivery,
  getKeyPolicy,
  putKeyPolicy,
] as const;

/** The pages: GETs that are not API operations (routes/page.ts), mounted after them. */
export const PAGES: readonly Page[] = [openApiJson, docsPage, consolePage, consoleSlash];
