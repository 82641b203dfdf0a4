-- History retention (src/services/retention.ts) deletes twin changes and audit events by age across all
-- devices and tenants. BRIN: both tables are append-only and written in time order, so the index is tiny
-- and costs the write paths next to nothing, unlike a second B-tree.
-- CreateIndex
CREATE INDEX "TwinChange_createdAt_idx" ON "TwinChange" USING BRIN ("createdAt");

-- CreateIndex
CREATE INDEX "AuditEvent_createdAt_idx" ON "AuditEvent" USING BRIN ("createdAt");
