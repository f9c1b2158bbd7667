-- The audit chain is appended after commit (issue 14): a change inserts its events with only
-- `pos` (a global sequence, no lock), and the chainer gives them the tenant's next `seq` and their
-- hashes right after. Unchained events are found through a small partial index.
ALTER TABLE "audit_events" ALTER COLUMN "seq" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "audit_events" ALTER COLUMN "prev_hash" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "audit_events" ALTER COLUMN "hash" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "audit_events" ADD COLUMN "pos" bigserial NOT NULL;--> statement-breakpoint
CREATE INDEX "audit_events_unchained" ON "audit_events" USING btree ("tenant_id","pos") WHERE "audit_events"."seq" is null;--> statement-breakpoint
ALTER TABLE "audit_events" ADD CONSTRAINT "audit_events_chained_whole" CHECK (("audit_events"."seq" is null) = ("audit_events"."hash" is null) and ("audit_events"."hash" is null) = ("audit_events"."prev_hash" is null));