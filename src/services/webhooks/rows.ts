/** Rows of the webhook tables as the raw queries of index.ts return them, and their conversion. */
import { eventIdOf } from '../../domain/webhooks/envelope.ts';
import type { DeliveryAttempt, WebhookDelivery, WebhookEndpoint } from './types.ts';

type Time = Date | string;

export interface EndpointRow {
  id: string;
  tenantId: string;
  url: string;
  description: string | null;
  eventTypes: string[];
  filterDeviceIds: string[];
  filterTags: string[];
  filterModel: string | null;
  enabled: boolean;
  disabledReason: string | null;
  disabledAt: Time | null;
  maxInFlight: number;
  consecutiveFailures: number;
  failingSince: Time | null;
  createdBy: string | null;
  createdAt: Time;
  updatedAt: Time;
  liveSecrets: number;
  oldSecretExpiresAt: Time | null;
}

export interface DeliveryRow {
  id: string;
  seq: string;
  eventId: string;
  type: string;
  deviceId: string | null;
  status: string;
  attempts: number;
  nextAttemptAt: Time;
  lastStatus: number | null;
  lastError: string | null;
  occurredAt: Time;
  deliveredAt: Time | null;
  failedAt: Time | null;
  createdAt: Time;
}

export interface AttemptRow {
  outboxId: string;
  attempt: number;
  startedAt: Time;
  statusCode: number | null;
  latencyMs: number | null;
  error: string | null;
  nextAttemptAt: Time | null;
}

const date = (value: Time): Date => (value instanceof Date ? value : new Date(value));
const dateOrNull = (value: Time | null): Date | null => (value === null ? null : date(value));

export function rowToEndpoint(row: EndpointRow): WebhookEndpoint {
  return {
    id: row.id,
    tenantId: row.tenantId,
    url: row.url,
    description: row.description,
    eventTypes: row.eventTypes,
    filter: { deviceIds: row.filterDeviceIds, tags: row.filterTags, model: row.filterModel },
    enabled: row.enabled,
    disabledReason: row.disabledReason,
    disabledAt: dateOrNull(row.disabledAt),
    maxInFlight: Number(row.maxInFlight),
    consecutiveFailures: Number(row.consecutiveFailures),
    failingSince: dateOrNull(row.failingSince),
    createdBy: row.createdBy,
    createdAt: date(row.createdAt),
    updatedAt: date(row.updatedAt),
    secretRotation: { liveSecrets: Number(row.liveSecrets), oldSecretExpiresAt: dateOrNull(row.oldSecretExpiresAt) },
  };
}

export function rowToDelivery(row: DeliveryRow, attempts: readonly AttemptRow[]): WebhookDelivery {
  const attemptLog: DeliveryAttempt[] = attempts
    .filter((a) => a.outboxId === row.id)
    .map((a) => ({
      attempt: Number(a.attempt),
      startedAt: date(a.startedAt),
      statusCode: a.statusCode === null ? null : Number(a.statusCode),
      latencyMs: a.latencyMs === null ? null : Number(a.latencyMs),
      error: a.error,
      nextAttemptAt: dateOrNull(a.nextAttemptAt),
    }));
  return {
    id: row.id,
    seq: BigInt(row.seq),
    eventUuid: row.eventId,
    eventId: eventIdOf(row.eventId) ?? row.eventId,
    type: row.type,
    deviceId: row.deviceId,
    status: row.status,
    attempts: Number(row.attempts),
    nextAttemptAt: date(row.nextAttemptAt),
    lastStatus: row.lastStatus === null ? null : Number(row.lastStatus),
    lastError: row.lastError,
    occurredAt: date(row.occurredAt),
    deliveredAt: dateOrNull(row.deliveredAt),
    failedAt: dateOrNull(row.failedAt),
    createdAt: date(row.createdAt),
    attemptLog,
  };
}
