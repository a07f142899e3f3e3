import { z } from "@hono/zod-openapi";
import { jsonResponse } from "../../http/openapi";
import { openOperation } from "../operation";

export const health = openOperation(
  {
    method: "get",
    path: "/health",
    tags: ["Service"],
    operationId: "health",
    summary: "Liveness",
    description: "Answers 200 while the worker runs; it reads no storage and needs no credentials.",
    responses: {
      200: jsonResponse(
        z
          .object({ status: z.literal("ok").openapi({ description: "Always `ok`.", example: "ok" }) })
          .openapi("Health", { description: "Liveness answer." }),
        "The worker is up.",
      ),
    },
  },
  (c) => c.json({ status: "ok" as const }, 200),
);
