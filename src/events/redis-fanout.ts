/**
 * Live events across instances (docs/operations.md): with REDIS_URL set, every event published on this
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

/**
 * Event types that cross instances: all of them (subscriptions and token revocations alike). A record
 * over EventType, so a type added to the bus without being listed here fails to compile instead of
 * being dropped as malformed by every peer.
 */
const EVENT_TYPES: ReadonlySet<string> = new Set(
  Object.keys({
    twinChanged: true,
    tokenRevoked: true,
    commandUpdated: true,
    fleetProgress: true,
    deviceConnection: true,
    telemetry: true,
    alarmChanged: true,
  } satisfies Record<EventType, true>),
);

export interface RedisFanoutOptions {
  url: string;
  /** The pub/sub channel every instance of one deployment shares. */
  channel: string;
  logger: Logger;
  metrics: Metrics;
  /** Tags this instance's messages (default: a random UUID per process). */
  instanceId?: string;
}

/**
 * What goes over the channel: the events an instance published in one event-loop turn, in order (a
 * telemetry batch publishes one event per device at once). Short keys: it is serialized per message.
 */
interface Envelope {
  /** Publishing instance. */
  o: string;
  /** [type, event] pairs. */
  e: Array<[EventType, unknown]>;
}

/** Events per Redis message at most (a turn with more sends several). */
const MAX_EVENTS_PER_MESSAGE = 1000;

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
  // Auto-pipelining: messages of a busy moment share writes. Commands wait in the offline queue while
  // reconnecting, for a bounded number of retries.
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

  // Our own messages come back too; JSON.stringify keeps key order, so they start with this and are
  // recognized without parsing them.
  const ownPrefix = `{"o":${JSON.stringify(instanceId)},`;
  subscriber.on('message', (_channel: string, text: string) => {
    if (text.startsWith(ownPrefix)) return; // ours: already delivered locally
    let envelope: Envelope;
    try {
      envelope = JSON.parse(text) as Envelope;
    } catch {
      metrics.inc(FANOUT_METRIC, { direction: 'in', result: 'malformed' });
      return;
    }
    if (envelope === null || typeof envelope !== 'object' || typeof envelope.o !== 'string' || !Array.isArray(envelope.e)) {
      metrics.inc(FANOUT_METRIC, { direction: 'in', result: 'malformed' });
      return;
    }
    if (envelope.o === instanceId) return;
    let received = 0;
    for (const item of envelope.e) {
      if (!Array.isArray(item) || !EVENT_TYPES.has(item[0]) || item[1] === null || typeof item[1] !== 'object') {
        metrics.inc(FANOUT_METRIC, { direction: 'in', result: 'malformed' });
        continue;
      }
      received++;
      local.publish(item[0], item[1] as DoppelEvents[EventType]);
    }
    if (received > 0) metrics.inc(FANOUT_METRIC, { direction: 'in', result: 'received' }, received);
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
  // Events of the current turn, sent together once it ends: one command, one string, one reply for a
  // whole telemetry batch instead of one per device (≈ 25 % of the server's CPU at 10,000 msg/s).
  let pending: Envelope['e'] = [];
  const flush = () => {
    const events = pending;
    pending = [];
    if (events.length === 0 || closed) return;
    publisher.publish(channel, JSON.stringify({ o: instanceId, e: events } satisfies Envelope)).then(
      () => metrics.inc(FANOUT_METRIC, { direction: 'out', result: 'sent' }, events.length),
      (error: unknown) => {
        metrics.inc(FANOUT_METRIC, { direction: 'out', result: 'send_failed' }, events.length);
        logError('events could not be sent to Redis (other instances miss them)', error);
      },
    );
  };
  return {
    publish(type, event) {
      local.publish(type, event);
      if (closed) return;
      if (pending.length === 0) setImmediate(flush);
      pending.push([type, event]);
      if (pending.length >= MAX_EVENTS_PER_MESSAGE) flush();
    },
    subscribe: (type, accept) => local.subscribe(type, accept),
    subscriberCount: (type) => local.subscriberCount(type),
    async close() {
      if (closed) return;
      flush(); // this turn's events still go out, before QUIT
      closed = true;
      await Promise.allSettled([subscriber.quit(), publisher.quit()]);
    },
  };
}
