-- DropForeignKey
ALTER TABLE "TelemetryPoint" DROP CONSTRAINT "TelemetryPoint_deviceId_fkey";
