/**
 * The topic ACL of acl.ts applied to broker traffic: who may publish where (and leave which Last
 * Will), subscribe to what, and receive which messages. Decisions only; what a refusal does to the
 * connection is Aedes' (see index.ts).
 */
import type { AedesPublishPacket, Client, ConnectPacket, PublishPacket, Subscription } from 'aedes';
import { canPublish, canReceive, canSubscribe } from '../acl.ts';
import { parseInboundTopic, type InboundTopic } from '../topics.ts';
import type { BrokerCounters } from './counters.ts';
import type { ClientIdentity } from './sessions.ts';

export type LastWill = NonNullable<ConnectPacket['will']>;

export interface Authorization {
  /** A Last Will the device may leave: its own device → server topic, within the payload limit. Refusals are counted. */
  admitsWill: (deviceId: string, will: LastWill) => boolean;
  /** The device and parsed topic of a PUBLISH the ACL allows; null (counted, logged) when refused. */
  checkPublish: (client: Client | null, packet: PublishPacket) => { deviceId: string; topic: InboundTopic } | null;
  /** Aedes `authorizeSubscribe`: a refused filter gets SUBACK 0x80, the rest of the packet stands. */
  authorizeSubscribe: (client: Client, sub: Subscription, done: (err: Error | null, sub?: Subscription | null) => void) => void;
  /** Aedes `authorizeForward`: null keeps the message from this client. */
  authorizeForward: (client: Client, packet: AedesPublishPacket) => AedesPublishPacket | null;
}

export interface AuthorizationOptions {
  identity: ClientIdentity;
  counters: BrokerCounters;
  maxPayloadBytes: number;
}

export function createAuthorization({ identity, counters, maxPayloadBytes }: AuthorizationOptions): Authorization {
  return {
    admitsWill(deviceId, will) {
      if (!canPublish(deviceId, will.topic)) {
        counters.refuse('aclDenials', `acl:${deviceId}`, { deviceId, topic: will.topic }, 'MQTT connect refused: Last Will topic not allowed');
        return false;
      }
      const bytes = typeof will.payload === 'string' ? Buffer.byteLength(will.payload, 'utf8') : will.payload.length;
      if (bytes > maxPayloadBytes) {
        counters.refuse('oversize', `size:${deviceId}`, { deviceId, bytes }, 'MQTT connect refused: Last Will payload too large');
        return false;
      }
      return true;
    },

    checkPublish(client, packet) {
      // `client` is null only for a Last Will of a session that outlived its connection; wills were
      // checked against the ACL at CONNECT, so the topic's own id is the device.
      const deviceId = client ? identity.deviceOf(client) : parseInboundTopic(packet.topic)?.deviceId;
      const topic = deviceId !== undefined && canPublish(deviceId, packet.topic) ? parseInboundTopic(packet.topic) : null;
      if (deviceId === undefined || topic === null) {
        counters.refuse('aclDenials', `acl:${deviceId}`, { deviceId, topic: packet.topic.slice(0, 200) }, 'MQTT publish refused by ACL; disconnecting client');
        return null;
      }
      return { deviceId, topic };
    },

    authorizeSubscribe(client, sub, done) {
      const deviceId = identity.deviceOf(client);
      if (deviceId !== undefined && canSubscribe(deviceId, sub.topic)) return done(null, sub);
      counters.refuse('aclDenials', `acl:${deviceId}`, { deviceId, filter: sub.topic.slice(0, 200) }, 'MQTT subscription refused by ACL (SUBACK 0x80)');
      done(null, null);
    },

    authorizeForward(client, packet) {
      const deviceId = identity.deviceOf(client);
      // Defence in depth: only the device's own server → device topics ever reach it. Its own device →
      // server messages are not echoed back (they match its `twin/#` and `commands/#` subscriptions).
      if (deviceId === undefined || !canReceive(deviceId, packet.topic)) return null;
      return packet;
    },
  };
}
