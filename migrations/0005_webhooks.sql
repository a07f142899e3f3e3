CREATE TABLE `webhook_endpoints` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`url` text NOT NULL,
	`events` text NOT NULL,
	`description` text,
	`secret` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`disabled_at` integer,
	`disabled_reason` text,
	`failing_since` integer
);
--> statement-breakpoint
CREATE INDEX `webhook_endpoints_ws_created_idx` ON `webhook_endpoints` (`workspace_id`,`created_at`,`id`);--> statement-breakpoint
CREATE TABLE `webhook_deliveries` (
	`id` text PRIMARY KEY NOT NULL,
	`endpoint_id` text NOT NULL,
	`workspace_id` text NOT NULL,
	`event` text NOT NULL,
	`payload` text NOT NULL,
	`created_at` integer NOT NULL,
	`status` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`schedule_from` integer DEFAULT 0 NOT NULL,
	`last_attempt_at` integer,
	`last_response_status` integer,
	`last_error` text,
	`next_attempt_at` integer,
	`lease_until` integer
);
--> statement-breakpoint
CREATE INDEX `webhook_deliveries_endpoint_created_idx` ON `webhook_deliveries` (`endpoint_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `webhook_deliveries_pending_idx` ON `webhook_deliveries` (`next_attempt_at`) WHERE "webhook_deliveries"."status" = 'pending';--> statement-breakpoint
CREATE INDEX `webhook_deliveries_created_idx` ON `webhook_deliveries` (`created_at`);--> statement-breakpoint
CREATE INDEX `api_keys_expires_idx` ON `api_keys` (`expires_at`) WHERE "api_keys"."revoked_at" IS NULL AND "api_keys"."expires_at" IS NOT NULL;--> statement-breakpoint
CREATE INDEX `api_keys_ws_expires_idx` ON `api_keys` (`workspace_id`,`expires_at`) WHERE "api_keys"."revoked_at" IS NULL AND "api_keys"."expires_at" IS NOT NULL;--> statement-breakpoint
CREATE INDEX `key_signals_ws_kind_at_idx` ON `key_signals` (`workspace_id`,`kind`,`at`);
