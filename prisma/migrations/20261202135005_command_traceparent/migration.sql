-- Tracing (src/tracing/traceparent.ts): the W3C traceparent of the span that sent a command, so the
-- device's ack — on any instance, after any restart — starts a span linked to it. Nullable: commands
-- sent with tracing off carry none. Never part of the MQTT payload.
-- AlterTable
ALTER TABLE "Command" ADD COLUMN     "traceparent" TEXT;
