DROP INDEX "users_tenant_email_ci";--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "email_key" text;--> statement-breakpoint
-- Existing rows: the closest SQL form of text/index.ts foldCase (NFKC, lower case, dotted i folded); every write after this sets it from foldCase.
UPDATE "users" SET "email_key" = btrim(normalize(replace(lower(normalize("email", NFKC)), U&'i\0307', 'i'), NFKC));--> statement-breakpoint
ALTER TABLE "users" ALTER COLUMN "email_key" SET NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "users_tenant_email_key" ON "users" USING btree ("tenant_id","email_key");
