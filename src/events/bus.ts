import { createPubSub, type PubSub } from 'graphql-yoga';
import type { JsonObject } from '../domain/twin.ts';

/** A twin changed: one accepted patch that changed the visible document. */
export interface TwinChangedEvent {
  deviceUuid: string;
  deviceId: string;
  tenantId: string;
  version: number;
  section: 'reported' | 'desired';
  /** The effective merge patch (what actually changed). */
  patch: JsonObject;
  source: 'device' | 'api';
  actor: string | null;
  at: number;
}

/** A device connected to or disconnected from the broker (or reported its status). */
export interface DeviceConnectionEvent {
  deviceUuid: string;
  deviceId: string;
  tenantId: string;
  connected: boolean;
  at: number;
}

/** Telemetry points of one device newly stored by one batch write (replays that stored nothing are not published). */
export interface TelemetryEvent {
  deviceUuid: string;
  deviceId: string;
  tenantId: string;
  /** In the order the device sent them. */
  points: Array<{ metric: string; ts: number; value: number; isBool: boolean }>;
  /** When the batch was stored, epoch ms. */
  at: number;
}

export type DoppelEvents = {
  twinChanged: [TwinChangedEvent];
  deviceConnection: [DeviceConnectionEvent];
  telemetry: [TelemetryEvent];
};

/**
 * Live events for subscriptions. In-process by default; the event target is swappable (Redis in
 * scale-out mode) without touching publishers or subscribers.
 */
export type EventBus = PubSub<DoppelEvents>;

export function createEventBus(options: Parameters<typeof createPubSub<DoppelEvents>>[0] = {}): EventBus {
  return createPubSub<DoppelEvents>(options);
}
