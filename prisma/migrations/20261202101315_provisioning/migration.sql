-- CreateTable
CREATE TABLE "ProvisioningPolicy" (
    "id" UUID NOT NULL,
    "tenantId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "mode" TEXT NOT NULL,
    "reprovision" TEXT NOT NULL DEFAULT 'REFUSE',
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "tokenHash" TEXT,
    "sealedGroupKey" TEXT,
    "expiresAt" TIMESTAMPTZ(3),
    "maxDevices" INTEGER,
    "devicesProvisioned" INTEGER NOT NULL DEFAULT 0,
    "modelName" TEXT,
    "tags" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "ProvisioningPolicy_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ProvisioningAllowedId" (
    "policyId" UUID NOT NULL,
    "deviceId" TEXT NOT NULL,
    "claimedAt" TIMESTAMPTZ(3),

    CONSTRAINT "ProvisioningAllowedId_pkey" PRIMARY KEY ("policyId","deviceId")
);

-- CreateTable
CREATE TABLE "ProvisioningClaim" (
    "deviceId" TEXT NOT NULL,
    "policyId" UUID NOT NULL,
    "claimedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "rotatedAt" TIMESTAMPTZ(3),

    CONSTRAINT "ProvisioningClaim_pkey" PRIMARY KEY ("deviceId")
);

-- CreateTable
CREATE TABLE "ProvisioningAttempt" (
    "id" BIGSERIAL NOT NULL,
    "tenantId" TEXT,
    "policyId" UUID,
    "mode" TEXT,
    "deviceId" TEXT,
    "requestId" TEXT,
    "reason" TEXT NOT NULL,
    "accepted" BOOLEAN NOT NULL,
    "message" TEXT,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ProvisioningAttempt_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "ProvisioningPolicy_tokenHash_key" ON "ProvisioningPolicy"("tokenHash");

-- CreateIndex
CREATE UNIQUE INDEX "ProvisioningPolicy_tenantId_name_key" ON "ProvisioningPolicy"("tenantId", "name");

-- CreateIndex
CREATE INDEX "ProvisioningClaim_policyId_idx" ON "ProvisioningClaim"("policyId");

-- CreateIndex
CREATE INDEX "ProvisioningAttempt_tenantId_id_idx" ON "ProvisioningAttempt"("tenantId", "id");

-- CreateIndex
CREATE INDEX "ProvisioningAttempt_tenantId_policyId_id_idx" ON "ProvisioningAttempt"("tenantId", "policyId", "id");

-- AddForeignKey
ALTER TABLE "ProvisioningAllowedId" ADD CONSTRAINT "ProvisioningAllowedId_policyId_fkey" FOREIGN KEY ("policyId") REFERENCES "ProvisioningPolicy"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ProvisioningClaim" ADD CONSTRAINT "ProvisioningClaim_policyId_fkey" FOREIGN KEY ("policyId") REFERENCES "ProvisioningPolicy"("id") ON DELETE CASCADE ON UPDATE CASCADE;
