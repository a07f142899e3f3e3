// One worker (wrangler dev) for all browser tests; each test uses its own workspace.
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { skipBrowser } from "./chromium.mjs";
import { startWorker } from "./worker-process.mjs";

export default async function setup(project) {
  if (skipBrowser) return;
  // A secret scanning key pair of our own, pinned in the worker as GitHub's
  // published keys would be: tests sign leak reports as GitHub does.
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const identifier = randomBytes(32).toString("hex");
  const keysDocument = JSON.stringify({
    public_keys: [{ key_identifier: identifier, key: publicKey.export({ type: "spki", format: "pem" }), is_current: true }],
  });
  const worker = await startWorker({ vars: { SECRET_SCANNING_PUBLIC_KEYS: keysDocument } });
  project.provide("workerBase", worker.base);
  project.provide("sessionSecret", worker.secret);
  project.provide("secretScanningSigner", { identifier, privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }) });
  return () => worker.stop();
}
