/** What the webhook service returns (src/services/webhooks/index.ts): endpoints and their deliveries. */
import type { EndpointFilter } from './input.ts';

export interface WebhookEndpoint {
  id: string;
  tenantId: string;
  url: string;
  description: string | null;
  eventTypes: string[];
  filter: EndpointFilter;
  enabled: boolean;
  /** ADMIN (disableWebhookEndpoint), GONE (the receiver answered 410) or FAILING_TOO_LONG; null while enabled. */
  disabledReason: string | null;
  disabledAt: Date | null;
  maxInFlight: number;
  consecutiveFailures: number;
  failingSince: Date | null;
  createdBy: string | null;
  createdAt: Date;
  updatedAt: Date;
  secretRotation: {
    /** Secrets that sign right now (2 during a rotation overlap). */
    liveSecrets: number;
    /** When the older secret of a rotation stops signing; null outside an overlap. */
    oldSecretExpiresAt: Date | null;
  };
}

export interface DeliveryAttempt {
  attempt: number;
  startedAt: Date;
  statusCode: number | null;
  latencyMs: number | null;
  error: string | null;
  nextAttemptAt: Date | null;
}

export interface WebhookDelivery {
  /** The outbox row. */
  id: string;
  seq: bigint;
  /** The event uuid (the `webhook-id` is eventIdOf(eventUuid)). */
  eventUuid: string;
  eventId: string;
  type: string;
  /** The public device id the event is about (from its data), null for webhook.test. */
  deviceId: string | null;
  status: string;
  attempts: number;
  nextAttemptAt: Date;
  lastStatus: number | null;
  lastError: string | null;
  occurredAt: Date;
  deliveredAt: Date | null;
  failedAt: Date | null;
  createdAt: Date;
  /** Oldest attempt first. */
  attemptLog: DeliveryAttempt[];
}
