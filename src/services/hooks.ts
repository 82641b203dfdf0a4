/**
 * Local domain hooks: a service announces what it has just stored, once, after the write committed, on
 * the instance that stored it. They are what processing builds on (rules, alarms, outbound events).
 *
 * They differ from the live event bus (src/events/bus.ts) on purpose: the bus is best effort, drops
 * events for slow subscribers, and with Redis delivers every event to every instance, so a consumer
 * there would act once per instance. A hook listener runs exactly once per stored batch, in store order.
 *
 * Listeners run after the store has answered its callers (an MQTT PUBACK never waits for them), one
 * batch at a time per hook; a listener that throws is logged and counted and does not affect the store
 * or the other listeners. A listener slower than the store makes batches queue up, so listeners should
 * be set-based (one statement per batch). `drain()` waits for the queue on shutdown.
 */
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { DeviceConnectionEvent, TelemetryEvent, TwinChangedEvent } from '../events/bus.ts';

export type HookListener<E> = (event: E) => void | Promise<void>;

/** The side a consumer sees: register a listener, get back the function that removes it. */
export interface StoredHook<E> {
  subscribe(listener: HookListener<E>): () => void;
}

/** The side the storing service sees. */
export interface StoredHookEmitter<E> extends StoredHook<E> {
  /** Hands a stored batch to every listener (asynchronously, in order). Cheap when nobody listens. */
  emit(event: E): void;
  /** Resolves once every batch emitted so far has been handed to every listener. */
  drain(): Promise<void>;
}

export const HOOK_FAILURES_METRIC = 'doppel_hook_listener_failures_total';

export function createStoredHook<E>(name: string, options: { logger: Logger; metrics: Metrics }): StoredHookEmitter<E> {
  const listeners: Array<HookListener<E>> = [];
  let tail: Promise<void> = Promise.resolve();

  async function deliver(event: E): Promise<void> {
    for (const listener of [...listeners]) {
      try {
        await listener(event);
      } catch (error) {
        options.metrics.inc(HOOK_FAILURES_METRIC, { hook: name });
        options.logger.error({ err: error, hook: name }, 'a stored-hook listener failed');
      }
    }
  }

  return {
    subscribe(listener) {
      listeners.push(listener);
      return () => {
        const at = listeners.indexOf(listener);
        if (at >= 0) listeners.splice(at, 1);
      };
    },
    emit(event) {
      if (listeners.length === 0) return;
      tail = tail.then(() => deliver(event));
    },
    drain() {
      return tail;
    },
  };
}

/** A batch of telemetry as stored: one entry per device, only the points that were new (replays are left out). */
export interface TelemetryStored {
  /** When the batch was committed, epoch ms. */
  at: number;
  devices: TelemetryEvent[];
}

/**
 * The telemetry receipts one batch committed (docs/telemetry.md "Receipts"): for each device whose
 * messages in the batch carried `seq` (replays included), its cursor after the batch — the highest
 * seq such that every seq from 1 up to it is stored. The transport tells the devices
 * (`devices/{id}/telemetry/accepted`).
 */
export interface TelemetryReceipts {
  /** When the batch was committed, epoch ms. */
  at: number;
  /** Device id → cursor. At least one entry. */
  cursors: ReadonlyMap<string, number>;
}

/** The twin changes one write committed: each accepted patch that changed a twin, once. */
export interface TwinsStored {
  /** When the write was committed, epoch ms. */
  at: number;
  changes: TwinChangedEvent[];
}

/** A device's stored connection state changed (src/services/devices/broker.ts setConnection). */
export interface ConnectionStored {
  /** When the change was committed, epoch ms. */
  at: number;
  changes: DeviceConnectionEvent[];
}

/** The hooks of the storing services, created once by the app and handed to producers and consumers. */
export interface DomainHooks {
  telemetryStored: StoredHookEmitter<TelemetryStored>;
  /** Emitted once per committed batch with seq-bearing messages, after its messages were answered. */
  telemetryReceipts: StoredHookEmitter<TelemetryReceipts>;
  twinsStored: StoredHookEmitter<TwinsStored>;
  connectionStored: StoredHookEmitter<ConnectionStored>;
}

export function createDomainHooks(options: { logger: Logger; metrics: Metrics }): DomainHooks {
  options.metrics.describe(HOOK_FAILURES_METRIC, 'Stored-hook listeners that threw, by hook.');
  return {
    telemetryStored: createStoredHook('telemetryStored', options),
    telemetryReceipts: createStoredHook('telemetryReceipts', options),
    twinsStored: createStoredHook('twinsStored', options),
    connectionStored: createStoredHook('connectionStored', options),
  };
}
