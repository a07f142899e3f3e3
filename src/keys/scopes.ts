export const SCOPES = ["sources:read", "sources:write", "sources:delete"] as const;
export type Scope = (typeof SCOPES)[number];

export const SCOPE_DESCRIPTIONS: Record<Scope, string> = {
  "sources:read": "List and inspect knowledge sources.",
  "sources:write": "Create and update sources.",
  "sources:delete": "Remove sources.",
};
