// One worker (wrangler dev) for all browser tests; each test uses its own workspace.
import { skipBrowser } from "./chromium.mjs";
import { startWorker } from "./worker-process.mjs";

export default async function setup(project) {
  if (skipBrowser) return;
  const worker = await startWorker();
  project.provide("workerBase", worker.base);
  project.provide("sessionSecret", worker.secret);
  return () => worker.stop();
}
