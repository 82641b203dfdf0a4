-- CreateTable
CREATE TABLE "DeadLetter" (
    "id" UUID NOT NULL,
    "tenantId" TEXT,
    "deviceId" TEXT NOT NULL,
    "topic" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "payload" BYTEA NOT NULL,
    "errorCode" TEXT NOT NULL,
    "error" TEXT NOT NULL,
    "receivedAt" TIMESTAMPTZ(3) NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "replayCount" INTEGER NOT NULL DEFAULT 0,
    "lastReplayedAt" TIMESTAMPTZ(3),
    "lastReplayResult" TEXT,
    "resolvedAt" TIMESTAMPTZ(3),

    CONSTRAINT "DeadLetter_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "DeadLetter_tenantId_receivedAt_id_idx" ON "DeadLetter"("tenantId", "receivedAt", "id");

-- CreateIndex
CREATE INDEX "DeadLetter_receivedAt_idx" ON "DeadLetter"("receivedAt");
