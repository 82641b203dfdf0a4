-- AlterTable
ALTER TABLE "ApiToken" ADD COLUMN     "createdBy" TEXT,
ADD COLUMN     "expiresAt" TIMESTAMPTZ(3);

-- CreateTable
CREATE TABLE "AuditEvent" (
    "id" BIGSERIAL NOT NULL,
    "tenantId" TEXT NOT NULL,
    "actor" TEXT NOT NULL,
    "actorName" TEXT,
    "action" TEXT NOT NULL,
    "target" TEXT NOT NULL,
    "details" JSONB NOT NULL DEFAULT '{}',
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "AuditEvent_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "AuditEvent_tenantId_id_idx" ON "AuditEvent"("tenantId", "id");

-- CreateIndex
CREATE INDEX "AuditEvent_tenantId_action_id_idx" ON "AuditEvent"("tenantId", "action", "id");

-- CreateIndex
CREATE INDEX "AuditEvent_tenantId_target_id_idx" ON "AuditEvent"("tenantId", "target", "id");

-- CreateIndex
CREATE INDEX "ApiToken_tenantId_createdAt_idx" ON "ApiToken"("tenantId", "createdAt");
