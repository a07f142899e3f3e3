// The receiver example of docs/webhooks.md, run as a reader would run it:
// extracted from the page, started with node, sent one event signed with
// the secret and one signed with another secret (the signature made by the
// standardwebhooks package, as the service's deliveries are checked to be).
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

const root = resolve(import.meta.dirname, "../..");
const page = readFileSync(join(root, "docs/webhooks.md"), "utf8");
const example = page.match(/```js\n(\/\/ receiver\.mjs[\s\S]*?)```/)?.[1];

const freePort = () =>
  new Promise((done) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });

describe("the receiver example of docs/webhooks.md", () => {
  const secret = `whsec_${randomBytes(24).toString("base64")}`;
  let receiver;
  let port;
  let output = "";
  let dir;

  beforeAll(async () => {
    expect(example, "docs/webhooks.md has a ```js block starting // receiver.mjs").toBeTruthy();
    // Inside the repository, so `standardwebhooks` resolves from its node_modules.
    mkdirSync(join(root, "test-results"), { recursive: true });
    dir = mkdtempSync(join(root, "test-results", "receiver-"));
    writeFileSync(join(dir, "receiver.mjs"), example);
    port = await freePort();
    receiver = spawn(process.execPath, [join(dir, "receiver.mjs")], {
      env: { ...process.env, WEBHOOK_SECRET: secret, PORT: String(port) },
    });
    receiver.stdout.on("data", (chunk) => {
      output += chunk;
    });
    receiver.stderr.on("data", (chunk) => {
      output += chunk;
    });
    // Listening once it answers (400 to an unsigned body); a refused connection means not yet.
    const ask = () =>
      fetch(`http://127.0.0.1:${port}/`, { method: "POST", body: "{}" }).then(
        (r) => r.status,
        () => 0,
      );
    for (let tries = 0; (await ask()) !== 400; tries++) {
      if (tries > 600) throw new Error(`the receiver did not start: ${output}`);
      await new Promise((done) => setTimeout(done, 100));
    }
  });

  afterAll(() => {
    receiver?.kill();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const send = (signer, body) => {
    const id = `msg_${randomBytes(8).toString("hex")}`;
    const at = new Date();
    const headers = {
      "content-type": "application/json",
      "webhook-id": id,
      "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
      "webhook-signature": signer.sign(id, at, body),
    };
    return fetch(`http://127.0.0.1:${port}/`, { method: "POST", headers, body }).then((r) => ({ id, status: r.status }));
  };
  const event = JSON.stringify({ type: "api_key.revoked", timestamp: new Date().toISOString(), data: { keyId: "key_example" } });

  test("accepts an event signed with its secret (204) and prints it", async () => {
    const { id, status } = await send(new Webhook(secret), event);
    expect(status).toBe(204);
    await expect.poll(() => output, { timeout: 10_000 }).toContain(`${id} api_key.revoked {"keyId":"key_example"}`);
  });

  test("refuses one signed with another secret, or whose body was changed (400)", async () => {
    const other = new Webhook(`whsec_${randomBytes(24).toString("base64")}`);
    expect((await send(other, event)).status).toBe(400);
    // Signed over one body, sent with another.
    const signer = new Webhook(secret);
    const tampered = { sign: (id, at) => signer.sign(id, at, event) };
    expect((await send(tampered, event.replace("key_example", "key_other"))).status).toBe(400);
    await expect.poll(() => output, { timeout: 10_000 }).toContain("refused:");
  });
});
