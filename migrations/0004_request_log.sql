ALTER TABLE `key_usage_daily` ADD `ok` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `key_usage_daily` ADD `insufficient_scope` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `key_usage_daily` ADD `ip_not_allowed` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `key_usage_daily` ADD `rate_limited` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `key_usage_daily` ADD `revoked` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `key_usage_daily` ADD `expired` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `api_keys` ADD `used_after_revoke_at` integer;
