-- CreateTable
CREATE TABLE "TelemetryRollup" (
    "deviceId" UUID NOT NULL,
    "metric" TEXT NOT NULL,
    "grain" INTEGER NOT NULL,
    "bucket" TIMESTAMPTZ(3) NOT NULL,
    "count" INTEGER NOT NULL,
    "sum" DOUBLE PRECISION NOT NULL,
    "min" DOUBLE PRECISION NOT NULL,
    "max" DOUBLE PRECISION NOT NULL,
    "firstTs" TIMESTAMPTZ(3) NOT NULL,
    "first" DOUBLE PRECISION NOT NULL,
    "lastTs" TIMESTAMPTZ(3) NOT NULL,
    "last" DOUBLE PRECISION NOT NULL,

    CONSTRAINT "TelemetryRollup_pkey" PRIMARY KEY ("deviceId","metric","grain","bucket")
);

-- CreateIndex
CREATE INDEX "TelemetryRollup_bucket_idx" ON "TelemetryRollup" USING BRIN ("bucket");

-- CreateIndex
CREATE INDEX "TelemetryPoint_ts_idx" ON "TelemetryPoint" USING BRIN ("ts");

-- AddForeignKey
ALTER TABLE "TelemetryRollup" ADD CONSTRAINT "TelemetryRollup_deviceId_fkey" FOREIGN KEY ("deviceId") REFERENCES "Device"("id") ON DELETE CASCADE ON UPDATE CASCADE;
