import type { Env } from "../env";

/**
 * The change courier (src/delivery/change-courier.ts), the one writer of KV:
 * one object for the whole service, so that its deliveries never overlap.
 */
export const courier = (env: Env) => env.CHANGE_COURIER.get(env.CHANGE_COURIER.idFromName("courier"));
