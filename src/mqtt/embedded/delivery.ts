/**
 * Messages through the broker. Device → server: a PUBLISH the ACL allows and within the payload limit
 * goes to the message handler, and is acknowledged (PUBACK, and routing) only once the handler settles.
 * A handler that rejects with a transient store failure (src/domain/faults.ts; only at shutdown, since
 * the services hold messages through outages) leaves its message unacknowledged: the client is dropped
 * and resends it. Any other rejection is acknowledged, so a poison message is not redelivered forever.
 * Server → device: a packet handed to Aedes, which routes it to the subscribed devices.
 */
import { connectionGone, countAbandoned } from './abandoned.ts';
import type { Aedes, Client, PublishPacket } from 'aedes';
import type { Logger } from 'pino';
import { isTransientFailure } from '../../domain/faults.ts';
import { isValidTopicName } from '../topics.ts';
import type { InboundMessage, PublishOptions } from '../transport.ts';
import type { Authorization } from './authorization.ts';
import type { BrokerCounters } from './counters.ts';

export interface InboundDelivery {
  /** Aedes `authorizePublish`: an error drops the message unacknowledged and closes the connection. */
  authorizePublish: (client: Client | null, packet: PublishPacket, done: (err?: Error | null) => void) => void;
  /** Exactly one handler (see MqttTransport.setMessageHandler). */
  setMessageHandler: (handler: (msg: InboundMessage) => Promise<void>) => void;
  /** No more messages reach the handler (shutdown); those arriving are left unacknowledged. */
  stopAccepting: () => void;
  /** Settles when every handler call running now has (and its message is acknowledged). */
  settled: () => Promise<unknown>;
}

export interface InboundDeliveryOptions {
  authorization: Pick<Authorization, 'checkPublish'>;
  counters: BrokerCounters;
  log: Logger;
  maxPayloadBytes: number;
}

export function createInboundDelivery({ authorization, counters, log, maxPayloadBytes }: InboundDeliveryOptions): InboundDelivery {
  const inFlight = new Set<Promise<void>>();
  let messageHandler: ((msg: InboundMessage) => Promise<void>) | undefined;
  let closing = false;

  function authorizePublish(client: Client | null, packet: PublishPacket, done: (err?: Error | null) => void): void {
    const allowed = authorization.checkPublish(client, packet);
    if (!allowed) return done(new Error('publish not authorized'));
    const { deviceId, topic } = allowed;
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload, 'utf8') : packet.payload;
    if (payload.length > maxPayloadBytes) {
      counters.refuse(
        'oversize',
        `size:${deviceId}`,
        { deviceId, bytes: payload.length, max: maxPayloadBytes },
        'MQTT payload too large; disconnecting client',
      );
      return done(new Error('payload too large'));
    }
    if (closing || !messageHandler) {
      // Nobody would process it: leave it unacknowledged (the client is dropped) so the device resends.
      if (!closing) log.error('MQTT message arrived before a message handler was set');
      return done(new Error('not accepting messages'));
    }
    // Only `status` is meant to be retained. Retained telemetry or acks (one per command id!) would pile
    // up in broker memory forever.
    if (topic.kind !== 'status') packet.retain = false;

    const handler = messageHandler;
    // A `status` is what starts the post-connect work (the command round): it may be skipped when the
    // device has already gone again (./abandoned.ts).
    const sender = client;
    const dropIfGone =
      topic.kind === 'status' && sender
        ? () => {
            if (!connectionGone(sender)) return false;
            countAbandoned(counters, log, 'post-connect', deviceId);
            return true;
          }
        : undefined;
    const run = Promise.resolve()
      .then(() => handler({ deviceId, topic, payload, receivedAt: Date.now(), ...(dropIfGone ? { dropIfGone } : {}) }))
      .then(
        () => null,
        (err: unknown) => {
          counters.bump('handlerErrors');
          if (isTransientFailure(err)) {
            // The store was unavailable (at shutdown: it is held until the database is back otherwise). An
            // error leaves the message unacknowledged and drops the client, which resends it on reconnect.
            log.warn({ err, deviceId, kind: topic.kind }, 'MQTT message not stored (database unavailable); left unacknowledged');
            return new Error('store unavailable; message left unacknowledged');
          }
          // A poison message must not be redelivered forever.
          log.error({ err, deviceId, kind: topic.kind }, 'MQTT message handler failed; message acknowledged anyway');
          return null;
        },
      )
      .then((outcome) => {
        inFlight.delete(run);
        try {
          done(outcome); // null → PUBACK (QoS 1) and routing
        } catch (err) {
          log.error({ err, deviceId }, 'Aedes failed to complete a publish');
        }
      });
    inFlight.add(run);
  }

  return {
    authorizePublish,
    setMessageHandler(handler) {
      if (messageHandler) throw new Error('MQTT message handler already set');
      messageHandler = handler;
    },
    stopAccepting: () => void (closing = true),
    settled: () => Promise.allSettled([...inFlight]),
  };
}

/** Server → device: hands one packet to the broker; resolves once Aedes has routed it. */
export function publishThrough(broker: Aedes, topic: string, payload: string | Buffer, opts: PublishOptions): Promise<void> {
  if (!isValidTopicName(topic)) return Promise.reject(new TypeError(`invalid topic to publish to: ${JSON.stringify(topic)}`));
  const packet: PublishPacket = {
    cmd: 'publish',
    topic,
    payload: typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload,
    qos: opts.qos,
    retain: opts.retain ?? false,
    dup: false,
  };
  return new Promise((resolve, reject) => broker.publish(packet, (err) => (err ? reject(err) : resolve())));
}
