-- CreateTable
CREATE TABLE "TelemetryPoint" (
    "deviceId" UUID NOT NULL,
    "metric" TEXT NOT NULL,
    "ts" TIMESTAMPTZ(3) NOT NULL,
    "value" DOUBLE PRECISION NOT NULL,
    "isBool" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "TelemetryPoint_pkey" PRIMARY KEY ("deviceId","metric","ts")
);

-- CreateTable
CREATE TABLE "TelemetryLatest" (
    "deviceId" UUID NOT NULL,
    "metric" TEXT NOT NULL,
    "ts" TIMESTAMPTZ(3) NOT NULL,
    "value" DOUBLE PRECISION NOT NULL,
    "isBool" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "TelemetryLatest_pkey" PRIMARY KEY ("deviceId","metric")
);

-- AddForeignKey
ALTER TABLE "TelemetryPoint" ADD CONSTRAINT "TelemetryPoint_deviceId_fkey" FOREIGN KEY ("deviceId") REFERENCES "Device"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TelemetryLatest" ADD CONSTRAINT "TelemetryLatest_deviceId_fkey" FOREIGN KEY ("deviceId") REFERENCES "Device"("id") ON DELETE CASCADE ON UPDATE CASCADE;
