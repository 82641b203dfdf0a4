-- CreateTable
CREATE TABLE "TelemetryRollupDirty" (
    "deviceId" UUID NOT NULL,
    "hour" TIMESTAMPTZ(3) NOT NULL,
    "version" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "TelemetryRollupDirty_pkey" PRIMARY KEY ("deviceId","hour")
);

-- Latest values and rollups are updated in place over and over: leave room on each page so those
-- updates are HOT (no new index entries). Prisma does not model storage parameters; the diff ignores them.
ALTER TABLE "TelemetryLatest" SET (fillfactor = 50);
ALTER TABLE "TelemetryRollup" SET (fillfactor = 70);

-- Rollups written before this migration were folded at every grain by the ingest statement itself:
-- they are complete, nothing is dirty.
