-- A nullable column without a default: PostgreSQL adds it to the catalog only, no table rewrite.
-- AlterTable
ALTER TABLE "TelemetryPoint" ADD COLUMN     "seq" BIGINT;

-- CreateTable
CREATE TABLE "TelemetrySeqCursor" (
    "deviceId" UUID NOT NULL,
    "seq" BIGINT NOT NULL,
    "generation" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "TelemetrySeqCursor_pkey" PRIMARY KEY ("deviceId")
);

-- CreateTable
CREATE TABLE "TelemetrySeqPending" (
    "deviceId" UUID NOT NULL,
    "seq" BIGINT NOT NULL,

    CONSTRAINT "TelemetrySeqPending_pkey" PRIMARY KEY ("deviceId","seq")
);

-- AddForeignKey
ALTER TABLE "TelemetrySeqCursor" ADD CONSTRAINT "TelemetrySeqCursor_deviceId_fkey" FOREIGN KEY ("deviceId") REFERENCES "Device"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TelemetrySeqPending" ADD CONSTRAINT "TelemetrySeqPending_deviceId_fkey" FOREIGN KEY ("deviceId") REFERENCES "Device"("id") ON DELETE CASCADE ON UPDATE CASCADE;
