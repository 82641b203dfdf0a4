-- AlterTable
ALTER TABLE "DeviceModel" ADD COLUMN     "commands" JSONB NOT NULL DEFAULT '[]',
ADD COLUMN     "desiredSchema" JSONB,
ADD COLUMN     "reportedSchema" JSONB;

-- CreateTable
CREATE TABLE "DeviceModelVersion" (
    "modelId" UUID NOT NULL,
    "version" INTEGER NOT NULL,
    "description" TEXT,
    "commands" JSONB NOT NULL DEFAULT '[]',
    "desiredSchema" JSONB,
    "reportedSchema" JSONB,
    "createdBy" TEXT,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "DeviceModelVersion_pkey" PRIMARY KEY ("modelId","version")
);

-- CreateTable
CREATE TABLE "Command" (
    "id" UUID NOT NULL,
    "seq" BIGSERIAL NOT NULL,
    "tenantId" TEXT NOT NULL,
    "deviceId" UUID NOT NULL,
    "fleetCommandId" UUID,
    "name" TEXT NOT NULL,
    "params" JSONB NOT NULL DEFAULT '{}',
    "modelVersion" INTEGER NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'PENDING',
    "idempotencyKey" TEXT,
    "requestedBy" TEXT NOT NULL,
    "requestedById" TEXT,
    "timeoutMs" INTEGER,
    "expiresAt" TIMESTAMPTZ(3),
    "deadlineAt" TIMESTAMPTZ(3),
    "stateTimes" JSONB NOT NULL DEFAULT '{}',
    "result" JSONB,
    "error" JSONB,
    "canceledBy" TEXT,
    "refusals" JSONB NOT NULL DEFAULT '[]',
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "sentAt" TIMESTAMPTZ(3),
    "acceptedAt" TIMESTAMPTZ(3),
    "completedAt" TIMESTAMPTZ(3),
    "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Command_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "FleetCommand" (
    "id" UUID NOT NULL,
    "tenantId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "params" JSONB NOT NULL DEFAULT '{}',
    "requestedBy" TEXT NOT NULL,
    "requestedById" TEXT,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "FleetCommand_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "Command_deviceId_status_createdAt_seq_idx" ON "Command"("deviceId", "status", "createdAt", "seq");

-- CreateIndex
CREATE INDEX "Command_deviceId_createdAt_idx" ON "Command"("deviceId", "createdAt");

-- CreateIndex
CREATE INDEX "Command_deadlineAt_idx" ON "Command"("deadlineAt");

-- CreateIndex
CREATE INDEX "Command_status_deviceId_idx" ON "Command"("status", "deviceId");

-- CreateIndex
CREATE INDEX "Command_fleetCommandId_status_idx" ON "Command"("fleetCommandId", "status");

-- CreateIndex
CREATE UNIQUE INDEX "Command_deviceId_idempotencyKey_key" ON "Command"("deviceId", "idempotencyKey");

-- CreateIndex
CREATE INDEX "FleetCommand_tenantId_createdAt_idx" ON "FleetCommand"("tenantId", "createdAt");

-- AddForeignKey
ALTER TABLE "DeviceModelVersion" ADD CONSTRAINT "DeviceModelVersion_modelId_fkey" FOREIGN KEY ("modelId") REFERENCES "DeviceModel"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Command" ADD CONSTRAINT "Command_deviceId_fkey" FOREIGN KEY ("deviceId") REFERENCES "Device"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Command" ADD CONSTRAINT "Command_fleetCommandId_fkey" FOREIGN KEY ("fleetCommandId") REFERENCES "FleetCommand"("id") ON DELETE SET NULL ON UPDATE CASCADE;
