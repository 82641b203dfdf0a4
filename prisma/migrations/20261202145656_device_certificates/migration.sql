-- CreateTable
CREATE TABLE "DeviceCertificate" (
    "fingerprint" TEXT NOT NULL,
    "tenantId" TEXT NOT NULL,
    "deviceId" TEXT NOT NULL,
    "notAfter" TIMESTAMPTZ(3),
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "DeviceCertificate_pkey" PRIMARY KEY ("fingerprint")
);

-- CreateTable
CREATE TABLE "TenantCertificateAuthority" (
    "id" UUID NOT NULL,
    "tenantId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "pem" TEXT NOT NULL,
    "fingerprint" TEXT NOT NULL,
    "notAfter" TIMESTAMPTZ(3) NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "TenantCertificateAuthority_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "RevokedCertificate" (
    "tenantId" TEXT NOT NULL,
    "fingerprint" TEXT NOT NULL,
    "revokedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "RevokedCertificate_pkey" PRIMARY KEY ("tenantId","fingerprint")
);

-- CreateIndex
CREATE INDEX "DeviceCertificate_deviceId_idx" ON "DeviceCertificate"("deviceId");

-- CreateIndex
CREATE UNIQUE INDEX "TenantCertificateAuthority_tenantId_fingerprint_key" ON "TenantCertificateAuthority"("tenantId", "fingerprint");

-- CreateIndex
CREATE UNIQUE INDEX "TenantCertificateAuthority_tenantId_name_key" ON "TenantCertificateAuthority"("tenantId", "name");
