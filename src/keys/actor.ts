/**
 * Who makes a change to a key: an admin (console session), the key itself
 * (self-revoke), or the service on someone's behalf (a leak GitHub reported).
 * The workspace of a system actor's change is the key's own. With each, the
 * request's client, as the audit trail records it.
 */
export type Actor = (
  | { type: "admin"; workspaceId: string; userId: string }
  | { type: "key"; workspaceId: string; keyId: string }
  | { type: "system"; id: SystemActorId }
) & { clientIp: string | null; userAgent: string | null };

/**
 * The service acting on its own: revokedBy and the audit event's actorId name
 * it. `github_secret_scanning`: a leak GitHub reported; `policy`: the
 * workspace's key policy (an idle key revoked by the cron).
 */
export type SystemActorId = "github_secret_scanning" | "policy";

/** The id that `revokedBy`, `createdBy` and an audit event's `actorId` record. */
export function actorId(actor: Actor): string {
  switch (actor.type) {
    case "admin":
      return actor.userId;
    case "key":
      return actor.keyId;
    case "system":
      return actor.id;
  }
}
