/** The values and dependencies the parts of the device registry share. */
import type { Database } from '../../db/client.ts';
import type { EventBus } from '../../events/bus.ts';
import type { Device } from '../../generated/prisma/client.ts';
import type { Logger } from '../../logger.ts';
import type { Metrics } from '../../metrics.ts';
import type { AuditLog } from '../audit.ts';
import type { DeviceSessions } from '../ports.ts';

export interface RegisterDeviceInput {
  deviceId: string;
  name?: string | null;
  tags?: string[] | null;
  /** Name of the device model in the tenant; created on first use. */
  modelName?: string | null;
}

/** MQTT credentials of a device. The password is only ever returned here, once. */
export interface DeviceCredentials {
  username: string;
  password: string;
}

/** A device with the credentials just issued for it (registration, rotation). */
export interface DeviceWithCredentials {
  device: Device;
  credentials: DeviceCredentials;
}

/**
 * A change to what a device may do on the broker, after it is stored. External brokers mirror it
 * (src/mqtt/dynsec/index.ts). `active` is false while the device is disabled or its credentials revoked.
 */
export type DeviceSecurityEvent =
  | { type: 'registered'; deviceId: string; password: string }
  | { type: 'rotated'; deviceId: string; password: string; active: boolean; gracePeriodSeconds: number }
  | { type: 'revoked'; deviceId: string }
  | { type: 'disabled'; deviceId: string }
  | { type: 'enabled'; deviceId: string; active: boolean }
  | { type: 'deleted'; deviceId: string };

/** The outcome of a device authentication: refused, accepted, or accepted until `expiresAt` (epoch ms). */
export type AuthDecision = boolean | { expiresAt: number };

/**
 * A connection change: `connected` (CONNECT seen, not yet subscribed), `ready` (the device announced
 * `online`, which it does after subscribing, so commands may be published to it) or `disconnected`
 * (`offline`, Last Will or a dropped connection).
 */
export type ConnectionState = 'connected' | 'ready' | 'disconnected';

/** What a broker mirror (Mosquitto dynamic security) needs to know about one device. */
export interface BrokerSyncRow {
  deviceId: string;
  /** Not disabled and credentials not revoked. */
  active: boolean;
  /** The sealed secret (`Device.brokerSecret`), null when revoked or never sealed. */
  brokerSecret: string | null;
}

export interface DeviceServiceOptions {
  db: Database;
  bus: EventBus;
  logger: Logger;
  /** The devices' broker sessions: kicked after deletion, revocation, disabling or an immediate rotation. */
  sessions: DeviceSessions;
  /** Where every registry change made by an actor is recorded. */
  audit: AuditLog;
  /**
   * Mirrors a stored change on an external broker. Awaited: a mutation returns once the broker has it.
   * Failures are the listener's to log and count; the next reconcile heals them.
   */
  onSecurityEvent?: (event: DeviceSecurityEvent) => Promise<void>;
  /** The same for many devices at once (a bulk registration), so an external broker gets them in batches. */
  onSecurityEvents?: (events: DeviceSecurityEvent[]) => Promise<void>;
  /**
   * Encrypts a new secret for storage in `brokerSecret` (only with Mosquitto dynamic security, which
   * needs plaintext passwords on reconcile). Unset: nothing but the hash is stored.
   */
  sealSecret?: (deviceId: string, secret: string) => string;
  /** Counts the webhook events the registry and connection statements write (none counted without it). */
  metrics?: Metrics;
}
