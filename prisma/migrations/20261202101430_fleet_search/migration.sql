-- Fleet search (docs/onboarding.md "Fleet search", src/services/device-reads.ts): conditions on twin
-- paths are containment (`@>`) and SQL/JSON path (`@?`) tests, served by GIN (jsonb_path_ops: smaller
-- and faster than the default opclass for these operators, and all the search uses); `hasDelta` by a
-- partial index holding only the twins out of sync; lastSeenBefore/After by (tenantId, lastSeenAt).
-- GIN keeps its default fastupdate (a pending list merged in bulk), so twin writes stay cheap.
-- CreateIndex
CREATE INDEX "Device_tenantId_lastSeenAt_idx" ON "Device"("tenantId", "lastSeenAt");

-- CreateIndex
CREATE INDEX "Twin_reported_idx" ON "Twin" USING GIN ("reported" jsonb_path_ops);

-- CreateIndex
CREATE INDEX "Twin_desired_idx" ON "Twin" USING GIN ("desired" jsonb_path_ops);

-- CreateIndex
CREATE INDEX "Twin_has_delta_idx" ON "Twin"("deviceId") WHERE (delta <> '{}'::jsonb);
