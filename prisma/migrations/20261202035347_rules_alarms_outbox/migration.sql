-- CreateTable
CREATE TABLE "Rule" (
    "id" UUID NOT NULL,
    "tenantId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "version" INTEGER NOT NULL DEFAULT 1,
    "definition" JSONB NOT NULL,
    "sourceType" TEXT NOT NULL,
    "sourceKey" TEXT,
    "createdBy" TEXT,
    "updatedBy" TEXT,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Rule_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "RuleVersion" (
    "ruleId" UUID NOT NULL,
    "version" INTEGER NOT NULL,
    "definition" JSONB NOT NULL,
    "enabled" BOOLEAN NOT NULL,
    "createdBy" TEXT,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "RuleVersion_pkey" PRIMARY KEY ("ruleId","version")
);

-- CreateTable
CREATE TABLE "RuleState" (
    "ruleId" UUID NOT NULL,
    "deviceId" UUID NOT NULL,
    "ruleVersion" INTEGER NOT NULL,
    "phase" TEXT NOT NULL,
    "pendingSince" TIMESTAMPTZ(3),
    "deadlineAt" TIMESTAMPTZ(3),
    "lastTs" TIMESTAMPTZ(3),
    "lastValue" JSONB,
    "asOf" TIMESTAMPTZ(3) NOT NULL,
    "alarmId" UUID,
    "recentEdges" JSONB NOT NULL DEFAULT '[]',
    "revision" BIGINT NOT NULL DEFAULT 0,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "RuleState_pkey" PRIMARY KEY ("ruleId","deviceId")
);

-- CreateTable
CREATE TABLE "Alarm" (
    "id" UUID NOT NULL,
    "seq" BIGSERIAL NOT NULL,
    "tenantId" TEXT NOT NULL,
    "ruleId" UUID NOT NULL,
    "ruleVersion" INTEGER NOT NULL,
    "deviceId" UUID NOT NULL,
    "status" TEXT NOT NULL,
    "severity" TEXT NOT NULL,
    "raisedAt" TIMESTAMPTZ(3) NOT NULL,
    "raisedValue" JSONB,
    "clearedAt" TIMESTAMPTZ(3),
    "clearedValue" JSONB,
    "acknowledgedAt" TIMESTAMPTZ(3),
    "acknowledgedBy" TEXT,
    "flapping" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Alarm_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "AlarmEvent" (
    "id" BIGSERIAL NOT NULL,
    "alarmId" UUID NOT NULL,
    "fromStatus" TEXT,
    "toStatus" TEXT NOT NULL,
    "cause" TEXT NOT NULL,
    "value" JSONB,
    "actor" TEXT,
    "comment" TEXT,
    "at" TIMESTAMPTZ(3) NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "AlarmEvent_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "WebhookEndpoint" (
    "id" UUID NOT NULL,
    "tenantId" TEXT NOT NULL,
    "url" TEXT NOT NULL,
    "description" TEXT,
    "eventTypes" TEXT[],
    "filterDeviceIds" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "filterTags" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "filterModel" TEXT,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "disabledReason" TEXT,
    "disabledAt" TIMESTAMPTZ(3),
    "maxInFlight" INTEGER NOT NULL DEFAULT 4,
    "consecutiveFailures" INTEGER NOT NULL DEFAULT 0,
    "failingSince" TIMESTAMPTZ(3),
    "createdBy" TEXT,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "WebhookEndpoint_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "WebhookSecret" (
    "id" UUID NOT NULL,
    "endpointId" UUID NOT NULL,
    "sealed" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" TIMESTAMPTZ(3),

    CONSTRAINT "WebhookSecret_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Outbox" (
    "id" UUID NOT NULL,
    "seq" BIGSERIAL NOT NULL,
    "eventId" UUID NOT NULL,
    "tenantId" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "endpointId" UUID,
    "actionKey" TEXT,
    "alarmId" UUID,
    "deviceKey" UUID,
    "type" TEXT NOT NULL,
    "occurredAt" TIMESTAMPTZ(3) NOT NULL,
    "data" JSONB NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'PENDING',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "scheduleStart" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "nextAttemptAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "leasedUntil" TIMESTAMPTZ(3),
    "leaseToken" UUID,
    "lastStatus" INTEGER,
    "lastError" TEXT,
    "deliveredAt" TIMESTAMPTZ(3),
    "failedAt" TIMESTAMPTZ(3),
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Outbox_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "OutboxAttempt" (
    "outboxId" UUID NOT NULL,
    "attempt" INTEGER NOT NULL,
    "startedAt" TIMESTAMPTZ(3) NOT NULL,
    "statusCode" INTEGER,
    "latencyMs" INTEGER,
    "error" TEXT,
    "nextAttemptAt" TIMESTAMPTZ(3),

    CONSTRAINT "OutboxAttempt_pkey" PRIMARY KEY ("outboxId","attempt")
);

-- CreateIndex
CREATE INDEX "Rule_tenantId_sourceType_sourceKey_idx" ON "Rule"("tenantId", "sourceType", "sourceKey");

-- CreateIndex
CREATE UNIQUE INDEX "Rule_tenantId_name_key" ON "Rule"("tenantId", "name");

-- CreateIndex
CREATE INDEX "RuleState_deadlineAt_idx" ON "RuleState"("deadlineAt");

-- CreateIndex
CREATE INDEX "RuleState_deviceId_idx" ON "RuleState"("deviceId");

-- CreateIndex
CREATE INDEX "Alarm_tenantId_status_seq_idx" ON "Alarm"("tenantId", "status", "seq");

-- CreateIndex
CREATE INDEX "Alarm_deviceId_seq_idx" ON "Alarm"("deviceId", "seq");

-- CreateIndex
CREATE INDEX "Alarm_ruleId_seq_idx" ON "Alarm"("ruleId", "seq");

-- CreateIndex
CREATE UNIQUE INDEX "Alarm_open_key" ON "Alarm"("ruleId", "deviceId") WHERE (status <> 'CLEARED');

-- CreateIndex
CREATE INDEX "AlarmEvent_alarmId_id_idx" ON "AlarmEvent"("alarmId", "id");

-- CreateIndex
CREATE INDEX "WebhookEndpoint_tenantId_enabled_idx" ON "WebhookEndpoint"("tenantId", "enabled");

-- CreateIndex
CREATE INDEX "WebhookSecret_endpointId_idx" ON "WebhookSecret"("endpointId");

-- CreateIndex
CREATE INDEX "Outbox_pending_stream_idx" ON "Outbox"("endpointId", "deviceKey", "seq") WHERE (status = 'PENDING');

-- CreateIndex
CREATE INDEX "Outbox_delivered_idx" ON "Outbox"("deliveredAt") WHERE (status = 'DELIVERED');

-- CreateIndex
CREATE INDEX "Outbox_endpointId_status_seq_idx" ON "Outbox"("endpointId", "status", "seq");

-- CreateIndex
CREATE INDEX "Outbox_alarmId_idx" ON "Outbox"("alarmId");

-- CreateIndex
CREATE UNIQUE INDEX "Outbox_eventId_endpointId_key" ON "Outbox"("eventId", "endpointId");

-- CreateIndex
CREATE UNIQUE INDEX "Outbox_eventId_actionKey_key" ON "Outbox"("eventId", "actionKey");

-- AddForeignKey
ALTER TABLE "RuleVersion" ADD CONSTRAINT "RuleVersion_ruleId_fkey" FOREIGN KEY ("ruleId") REFERENCES "Rule"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "RuleState" ADD CONSTRAINT "RuleState_ruleId_fkey" FOREIGN KEY ("ruleId") REFERENCES "Rule"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "RuleState" ADD CONSTRAINT "RuleState_deviceId_fkey" FOREIGN KEY ("deviceId") REFERENCES "Device"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Alarm" ADD CONSTRAINT "Alarm_ruleId_fkey" FOREIGN KEY ("ruleId") REFERENCES "Rule"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Alarm" ADD CONSTRAINT "Alarm_deviceId_fkey" FOREIGN KEY ("deviceId") REFERENCES "Device"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "AlarmEvent" ADD CONSTRAINT "AlarmEvent_alarmId_fkey" FOREIGN KEY ("alarmId") REFERENCES "Alarm"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "WebhookSecret" ADD CONSTRAINT "WebhookSecret_endpointId_fkey" FOREIGN KEY ("endpointId") REFERENCES "WebhookEndpoint"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Outbox" ADD CONSTRAINT "Outbox_endpointId_fkey" FOREIGN KEY ("endpointId") REFERENCES "WebhookEndpoint"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "OutboxAttempt" ADD CONSTRAINT "OutboxAttempt_outboxId_fkey" FOREIGN KEY ("outboxId") REFERENCES "Outbox"("id") ON DELETE CASCADE ON UPDATE CASCADE;
