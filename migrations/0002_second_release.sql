CREATE TABLE `key_usage_daily` (
	`key_id` text NOT NULL,
	`day` text NOT NULL,
	`shard` integer NOT NULL,
	`workspace_id` text NOT NULL,
	`requests` integer NOT NULL,
	PRIMARY KEY(`key_id`, `day`, `shard`)
);
--> statement-breakpoint
CREATE INDEX `key_usage_daily_day_idx` ON `key_usage_daily` (`day`);--> statement-breakpoint
ALTER TABLE `api_keys` ADD `revocation_reason` text;--> statement-breakpoint
ALTER TABLE `api_keys` ADD `rolled_from` text;--> statement-breakpoint
ALTER TABLE `api_keys` ADD `rolled_to` text;--> statement-breakpoint
ALTER TABLE `api_keys` ADD `ip_allowlist` text DEFAULT '[]' NOT NULL;--> statement-breakpoint
ALTER TABLE `api_keys` ADD `rate_limit` text;--> statement-breakpoint
ALTER TABLE `api_keys` ADD `last_used_ip` text;--> statement-breakpoint
ALTER TABLE `api_keys` ADD `last_used_country` text;--> statement-breakpoint
CREATE UNIQUE INDEX `api_keys_rolled_from_unique` ON `api_keys` (`rolled_from`) WHERE "api_keys"."rolled_from" IS NOT NULL;--> statement-breakpoint
ALTER TABLE `audit_events` ADD `details` text;--> statement-breakpoint
UPDATE `api_keys` SET `revocation_reason` = 'admin' WHERE `revoked_at` IS NOT NULL;
