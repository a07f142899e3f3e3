/**
 * The console page's script, served as /console/app.js (bundled by
 * scripts/build-console.mjs). Rules every module follows:
 *
 * - The session token lives in api.ts's memory only: never in storage, a
 *   cookie or the URL (session.ts takes it from the fragment or the form).
 * - Every call goes to the JSON API through api.ts, as a console on another
 *   origin would.
 * - The full key of a new key is shown only in the post-create dialog and is
 *   removed from the page when that dialog closes (secret-dialog.ts).
 * - Text from the API is inserted as text (textContent, text nodes), never as
 *   HTML: there is nothing to escape because nothing is parsed. Charts are
 *   SVG built element by element the same way (usage-chart.ts).
 * - A URL from outside (where a leaked key was found) is text, never a link;
 *   so is a webhook endpoint's URL.
 * - A webhook endpoint's signing secret is shown only in the dialog after it
 *   is added, and removed from the page when that dialog closes (webhooks.ts).
 */
import { initAttention } from "./attention";
import { initCreateDialog } from "./create-dialog";
import { initKeyDialog, openKeyDialog } from "./key-dialog";
import { initKeyEdit } from "./key-edit";
import { initKeyRoll } from "./key-roll";
import { initKeyTables } from "./key-tables";
import { initPages } from "./pages";
import { initPolicyPage } from "./policy-page";
import { initRequestLog } from "./request-log";
import { initSecretDialog } from "./secret-dialog";
import { initSession, startSession } from "./session";
import { refreshTimes } from "./time";
import { initWebhookDialog, openWebhookDialog } from "./webhook-dialog";
import { initWebhooks } from "./webhooks";

document.addEventListener("DOMContentLoaded", () => {
  initSession();
  initKeyTables(openKeyDialog);
  initCreateDialog();
  initSecretDialog();
  initKeyDialog();
  initKeyEdit();
  initKeyRoll();
  initRequestLog();
  initPages();
  initAttention(openKeyDialog);
  initWebhooks(openWebhookDialog);
  initWebhookDialog();
  initPolicyPage(openKeyDialog);
  setInterval(refreshTimes, 30_000);
  startSession();
});
