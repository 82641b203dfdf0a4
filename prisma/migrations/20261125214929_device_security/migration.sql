-- AlterTable
ALTER TABLE "Device" ADD COLUMN     "brokerSecret" TEXT,
ADD COLUMN     "credentialsRevokedAt" TIMESTAMPTZ(3),
ADD COLUMN     "disabledAt" TIMESTAMPTZ(3),
ADD COLUMN     "previousSecretExpiresAt" TIMESTAMPTZ(3),
ADD COLUMN     "previousSecretHash" TEXT;
