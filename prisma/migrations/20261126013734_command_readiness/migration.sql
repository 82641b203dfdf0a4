-- AlterTable
ALTER TABLE "Device" ADD COLUMN     "commandsReadyAt" TIMESTAMPTZ(3);

-- Devices connected when this migration runs announced `online` in the session they are in (or
-- predate the readiness signal): keep delivering to them.
UPDATE "Device" SET "commandsReadyAt" = COALESCE("lastSeenAt", now()) WHERE connected;
