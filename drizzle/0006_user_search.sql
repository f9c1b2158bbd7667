-- Substring search in the users list (console and admin API `query`): trigram indexes, so a
-- search in a tenant of 100,000 users reads the matching rows instead of every row (bench/console).
-- pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "users_email_key_trgm" ON "users" USING gin ("email_key" gin_trgm_ops);
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "users_display_name_trgm" ON "users" USING gin (lower("display_name") gin_trgm_ops);
