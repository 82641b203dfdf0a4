/**
 * Live events across instances (DESIGN.md §9): with REDIS_URL set, every event published on this
 * instance also goes to one Redis pub/sub channel, and every event another instance put there is
 * published on this instance's bus. Subscribers and publishers keep the EventBus interface.
 *
 * Why it is needed: behind a shared MQTT subscription each message reaches ONE instance, so without
 * fan-out a dashboard connected to instance A never sees telemetry or twin changes that instance B
 * handled, and a token revoked through B would not end A's subscriptions.
 *
 * Delivery is what Redis pub/sub gives: at most once, in publish order per publishing instance, to
 * instances connected at that moment. Live events are not the record (the database is), so an event
 * lost while Redis is unreachable is counted and logged, never retried; publishing never waits for
 * Redis and never fails because of it. An instance's own events reach its own subscribers directly
 * (no round trip), and come back from Redis tagged with its id, so they are not delivered twice.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { DoppelEvents, EventBus, EventType } from './bus.ts';

export const FANOUT_METRIC = 'doppel_event_fanout_total';

/** Event types that cross instances: all of them (subscriptions and token revocations alike). */
const EVENT_TYPES: ReadonlySet<string> = new Set<EventType>(['twinChanged', 'tokenRevoked', 'commandUpdated', 'fleetProgress', 'deviceConnection', 'telemetry']);

export interface RedisFanoutOptions {
  url: string;
  /** The pub/sub channel every instance of one deployment shares. */
  channel: string;
  logger: Logger;
  metrics: Metrics;
  /** Tags this instance's messages (default: a random UUID per process). */
  instanceId?: string;
}

/** What goes over the channel. Short keys: it is serialized once per event. */
interface Envelope {
  /** Publishing instance. */
  o: string;
  t: EventType;
  e: unknown;
}

export type FanoutBus = EventBus & {
  /** Stops both connections; events published afterwards stay local. */
  close(): Promise<void>;
};

/**
 * Connects (publisher and subscriber connections) and resolves once the channel is subscribed, so an
 * instance that starts serving subscriptions already receives its peers' events. Rejects when Redis is
 * unreachable at start: a scale-out instance without fan-out would silently miss events.
 */
export async function createRedisFanout(local: EventBus, options: RedisFanoutOptions): Promise<FanoutBus> {
  const { logger, metrics, channel } = options;
  const instanceId = options.instanceId ?? randomUUID();
  metrics.describe(FANOUT_METRIC, 'Live events through Redis, by direction and result (sent, received, send_failed, malformed).');
  // Auto-pipelining: the publishes of one event-loop turn (a telemetry batch: one event per device) go
  // out in one write. Commands wait in the offline queue while reconnecting, for a bounded time.
  const common = { lazyConnect: true, enableAutoPipelining: true, maxRetriesPerRequest: 2, connectTimeout: 10_000 } as const;
  const publisher = new Redis(options.url, { ...common, connectionName: `doppel-pub-${instanceId}` });
  const subscriber = new Redis(options.url, { ...common, connectionName: `doppel-sub-${instanceId}` });
  let lastErrorLog = 0;
  const logError = (message: string, error: unknown) => {
    // Once a minute at most: a Redis outage would otherwise log once per event.
    if (Date.now() - lastErrorLog < 60_000) return;
    lastErrorLog = Date.now();
    logger.warn({ err: error }, message);
  };
  publisher.on('error', (error) => logError('Redis (event fan-out, publisher)', error));
  subscriber.on('error', (error) => logError('Redis (event fan-out, subscriber)', error));

  subscriber.on('message', (_channel: string, text: string) => {
    let envelope: Envelope;
    try {
      envelope = JSON.parse(text) as Envelope;
    } catch {
      metrics.inc(FANOUT_METRIC, { direction: 'in', result: 'malformed' });
      return;
    }
    if (envelope === null || typeof envelope !== 'object' || typeof envelope.o !== 'string' || !EVENT_TYPES.has(envelope.t) || envelope.e === null || typeof envelope.e !== 'object') {
      metrics.inc(FANOUT_METRIC, { direction: 'in', result: 'malformed' });
      return;
    }
    if (envelope.o === instanceId) return; // ours: already delivered locally
    metrics.inc(FANOUT_METRIC, { direction: 'in', result: 'received' });
    local.publish(envelope.t, envelope.e as DoppelEvents[typeof envelope.t]);
  });

  try {
    await Promise.all([publisher.connect(), subscriber.connect()]);
    await subscriber.subscribe(channel);
  } catch (error) {
    publisher.disconnect();
    subscriber.disconnect();
    throw new Error(`cannot reach Redis for event fan-out (REDIS_URL): ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  logger.info({ channel, instanceId }, 'live events fan out through Redis');

  let closed = false;
  return {
    publish(type, event) {
      local.publish(type, event);
      if (closed) return;
      const envelope: Envelope = { o: instanceId, t: type, e: event };
      publisher.publish(channel, JSON.stringify(envelope)).then(
        () => metrics.inc(FANOUT_METRIC, { direction: 'out', result: 'sent' }),
        (error: unknown) => {
          metrics.inc(FANOUT_METRIC, { direction: 'out', result: 'send_failed' });
          logError('an event could not be sent to Redis (other instances miss it)', error);
        },
      );
    },
    subscribe: (type, accept) => local.subscribe(type, accept),
    subscriberCount: (type) => local.subscriberCount(type),
    async close() {
      if (closed) return;
      closed = true;
      await Promise.allSettled([subscriber.quit(), publisher.quit()]);
    },
  };
}
