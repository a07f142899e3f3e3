CREATE TABLE `audit_events` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`action` text NOT NULL,
	`actor_id` text NOT NULL,
	`target_key_id` text NOT NULL,
	`client_ip` text,
	`user_agent` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `audit_events_ws_created_idx` ON `audit_events` (`workspace_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `audit_events_ws_key_created_idx` ON `audit_events` (`workspace_id`,`target_key_id`,`created_at`,`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `audit_events_one_revoke_per_key` ON `audit_events` (`target_key_id`) WHERE "audit_events"."action" = 'api_key.revoked';