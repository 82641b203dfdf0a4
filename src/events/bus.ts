import { DoppelError } from '../domain/errors.ts';
import type { JsonObject } from '../domain/twin.ts';
import type { FleetProgress } from '../domain/commands/fleet.ts';

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

/**
 * An API token was revoked (or found revoked or expired): every subscription and WebSocket connection
 * opened with it ends (src/auth/token-watch.ts). Not delivered to GraphQL clients.
 */
export interface TokenRevokedEvent {
  tokenId: string;
  tenantId: string;
  at: number;
}

/** A command was created or changed state (stored before this is published). */
export interface CommandUpdatedEvent {
  commandId: string;
  deviceUuid: string;
  deviceId: string;
  tenantId: string;
  fleetCommandId: string | null;
  /** null when the command was just created. */
  from: string | null;
  status: string;
  /** Epoch ms of the transition. */
  at: number;
}

/** A fleet command's aggregated progress after some of its members changed. */
export interface FleetProgressEvent {
  fleetCommandId: string;
  tenantId: string;
  progress: FleetProgress;
  at: number;
}

/** An alarm changed (committed before this is published): a transition, or its flapping flag. */
export interface AlarmChangedEvent {
  tenantId: string;
  alarmId: string;
  ruleId: string;
  deviceUuid: string;
  deviceId: string;
  status: string;
  /** null when the alarm was just opened. */
  from: string | null;
  severity: string;
  /** conditionRaised, conditionCleared, acknowledge, clear, flapping. */
  cause: string;
  /** Epoch ms of the transition. */
  at: number;
}

export interface DoppelEvents {
  twinChanged: TwinChangedEvent;
  tokenRevoked: TokenRevokedEvent;
  commandUpdated: CommandUpdatedEvent;
  fleetProgress: FleetProgressEvent;
  deviceConnection: DeviceConnectionEvent;
  telemetry: TelemetryEvent;
  alarmChanged: AlarmChangedEvent;
}

export type EventType = keyof DoppelEvents;

export interface EventBusOptions {
  /**
   * Events one subscriber may have waiting. A subscriber that falls this far behind (a dashboard
   * that stopped reading its socket) is ended with SLOW_CONSUMER instead of growing memory without
   * bound or slowing everybody else down.
   */
  maxQueuedPerSubscriber?: number;
  /** Called when a subscriber is ended for falling behind (metrics, logs). */
  onSlowConsumer?: (type: EventType) => void;
}

/** Live events for subscriptions: publishers never wait and never fail because of a subscriber. */
export interface EventBus {
  publish<K extends EventType>(type: K, event: DoppelEvents[K]): void;
  /** Events of one type; `accept` filters before anything is queued for this subscriber. */
  subscribe<K extends EventType>(type: K, accept?: (event: DoppelEvents[K]) => boolean): AsyncIterableIterator<DoppelEvents[K]>;
  /** Live subscribers per event type (tests, metrics). */
  subscriberCount(type: EventType): number;
}

export const SLOW_CONSUMER = 'SLOW_CONSUMER';

/**
 * In-process event bus. Each subscriber has its own bounded queue; publishing is a loop of pushes,
 * so one slow subscriber costs the others nothing. (Scale-out replaces the transport underneath with
 * Redis; subscribers and publishers keep this interface.)
 */
export function createEventBus(options: EventBusOptions = {}): EventBus {
  const maxQueued = options.maxQueuedPerSubscriber ?? 10_000;
  const subscribers = new Map<EventType, Set<Subscriber<unknown>>>();

  class Subscriber<T> implements AsyncIterableIterator<T> {
    private queue: T[] = [];
    private waiting: Array<{ resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void }> = [];
    private done = false;
    private failure: Error | null = null;

    constructor(
      private readonly type: EventType,
      private readonly accept: ((event: T) => boolean) | undefined,
    ) {}

    push(event: T): void {
      if (this.done || (this.accept && !this.accept(event))) return;
      const waiter = this.waiting.shift();
      if (waiter) {
        waiter.resolve({ value: event, done: false });
        return;
      }
      if (this.queue.length >= maxQueued) {
        this.fail(new DoppelError(SLOW_CONSUMER, `subscription ended: more than ${maxQueued} events waiting for this client; it is not reading fast enough`));
        options.onSlowConsumer?.(this.type);
        return;
      }
      this.queue.push(event);
    }

    private fail(error: Error): void {
      this.failure = error;
      this.queue = [];
      this.close();
    }

    private close(): void {
      if (this.done) return;
      this.done = true;
      subscribers.get(this.type)?.delete(this as Subscriber<unknown>);
      for (const w of this.waiting.splice(0)) {
        if (this.failure) w.reject(this.failure);
        else w.resolve({ value: undefined, done: true });
      }
    }

    next(): Promise<IteratorResult<T>> {
      const event = this.queue.shift();
      if (event !== undefined) return Promise.resolve({ value: event, done: false });
      if (this.failure) {
        const failure = this.failure;
        this.failure = null;
        return Promise.reject(failure);
      }
      if (this.done) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
    }

    return(): Promise<IteratorResult<T>> {
      this.queue = [];
      this.close();
      return Promise.resolve({ value: undefined, done: true });
    }

    throw(error: unknown): Promise<IteratorResult<T>> {
      this.close();
      return Promise.reject(error);
    }

    [Symbol.asyncIterator](): AsyncIterableIterator<T> {
      return this;
    }
  }

  return {
    publish(type, event) {
      const set = subscribers.get(type);
      if (!set) return;
      // No copy per event: a subscriber that push() ends deletes itself, which a Set's iteration
      // tolerates, and push() never adds a subscriber (waiters resume in a later microtask).
      for (const subscriber of set) subscriber.push(event);
    },
    subscribe(type, accept) {
      const subscriber = new Subscriber(type, accept);
      let set = subscribers.get(type);
      if (!set) {
        set = new Set();
        subscribers.set(type, set);
      }
      set.add(subscriber as Subscriber<unknown>);
      return subscriber;
    },
    subscriberCount(type) {
      return subscribers.get(type)?.size ?? 0;
    },
  };
}
