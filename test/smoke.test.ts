import { describe, expect, it } from "vitest";
import { call, createKey, session } from "./helpers";

describe("smoke", () => {
  it("creates a key and uses it", async () => {
    const admin = await session();
    const created = await createKey(admin);
    const res = await call("GET", "/v1/key", { token: created.key });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id: created.id, workspaceId: "ws_a" });
  });
});
