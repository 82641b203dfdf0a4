-- The claim's live leases (src/services/outbox/claim.ts): PENDING rows with a lease are the ones in flight
-- (or left by a dead deliverer), a few per endpoint, so reading them never scans the backlog.
-- CreateIndex
CREATE INDEX "Outbox_leased_idx" ON "Outbox"("endpointId", "deviceKey") WHERE (status = 'PENDING' AND "leasedUntil" IS NOT NULL);
