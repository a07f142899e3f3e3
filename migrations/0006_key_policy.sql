CREATE TABLE `key_policies` (
	`workspace_id` text PRIMARY KEY NOT NULL,
	`max_lifetime_days` integer,
	`require_ip_allowlist` integer DEFAULT false NOT NULL,
	`idle_revoke_days` integer,
	`idle_set_at` integer,
	`version` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`updated_by` text NOT NULL,
	`idle_next_pass_at` integer,
	`idle_cursor` text
);
--> statement-breakpoint
CREATE INDEX `key_policies_idle_due_idx` ON `key_policies` (`idle_next_pass_at`) WHERE "key_policies"."idle_revoke_days" IS NOT NULL;--> statement-breakpoint
CREATE INDEX `api_keys_ws_idle_idx` ON `api_keys` (`workspace_id`,coalesce(`last_used_at`, `created_at`),`id`) WHERE "api_keys"."revoked_at" IS NULL;
