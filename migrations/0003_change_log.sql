CREATE TABLE `key_changes` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`key_id` text NOT NULL,
	`workspace_id` text NOT NULL,
	`version` integer NOT NULL,
	`kind` text NOT NULL,
	`at` integer NOT NULL,
	`actor_id` text NOT NULL,
	`details` text,
	`kv_delivered_at` integer,
	`kv_attempts` integer DEFAULT 0 NOT NULL,
	`kv_next_attempt_at` integer NOT NULL,
	`events_at` integer
);
--> statement-breakpoint
CREATE INDEX `key_changes_at_idx` ON `key_changes` (`at`);--> statement-breakpoint
CREATE INDEX `key_changes_kv_delivered_idx` ON `key_changes` (`kv_delivered_at`);--> statement-breakpoint
CREATE INDEX `key_changes_kv_pending_idx` ON `key_changes` (`kv_next_attempt_at`) WHERE "key_changes"."kv_delivered_at" IS NULL;--> statement-breakpoint
CREATE INDEX `key_changes_events_pending_idx` ON `key_changes` (`seq`) WHERE "key_changes"."events_at" IS NULL;--> statement-breakpoint
CREATE TABLE `key_signals` (
	`id` text PRIMARY KEY NOT NULL,
	`key_id` text NOT NULL,
	`workspace_id` text NOT NULL,
	`kind` text NOT NULL,
	`dedupe` text NOT NULL,
	`at` integer NOT NULL,
	`data` text NOT NULL,
	`events_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `key_signals_dedupe_unique` ON `key_signals` (`dedupe`);--> statement-breakpoint
CREATE INDEX `key_signals_key_at_idx` ON `key_signals` (`key_id`,`at`);--> statement-breakpoint
CREATE INDEX `key_signals_events_pending_idx` ON `key_signals` (`at`) WHERE "key_signals"."events_at" IS NULL;--> statement-breakpoint
ALTER TABLE `api_keys` ADD `version` integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE `api_keys` ADD `budget_id` text;--> statement-breakpoint
ALTER TABLE `api_keys` ADD `kv_version` integer;--> statement-breakpoint
CREATE INDEX `api_keys_kv_pending_idx` ON `api_keys` (`id`) WHERE "api_keys"."kv_version" IS NULL;