/**
 * Provisioning clients on the embedded broker (docs/onboarding.md "Provisioning"): username `provision`,
 * password = a claim token. Such a client is no device: it may publish only
 * `provision/{requestId}/request` and subscribe only to `provision/{requestId}/+` (or either reply
 * topic), where the request id is the MQTT client id it connected with, so it can never read another
 * claimant's credentials. Anything else is refused as for a device (SUBACK 0x80; a PUBLISH closes the
 * connection) and stored as a TOPIC_DENIED attempt. A request is answered on `…/accepted` or
 * `…/rejected` before it is acknowledged.
 */
import type { AedesPublishPacket, Client, ConnectPacket, PublishPacket, Subscription } from 'aedes';
import type { Logger } from 'pino';
import { MAX_REQUEST_BYTES, PROVISIONING_USERNAME } from '../../domain/provisioning/policy.ts';
import type { ClaimSession, ProvisioningGate } from '../../services/provisioning/index.ts';
import { isProvisionReplyFilter, parseProvisionRequestTopic, provisionTopics } from '../topics.ts';
import { isValidDeviceId } from '../../domain/ids.ts';
import type { BrokerCounters } from './counters.ts';

/** CONNACK return codes (MQTT 3.1.1 §3.2.2.3). */
const IDENTIFIER_REJECTED = 2;
const SERVER_UNAVAILABLE = 3;
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

type ConnackError = Error & { returnCode: number };
const connackError = (returnCode: number, message: string): ConnackError => Object.assign(new Error(message), { returnCode });

interface ProvisioningClient {
  requestId: string;
  session: ClaimSession;
}

export interface ProvisioningClients {
  /** Is this CONNECT a provisioning client's? */
  claims: (username: string | undefined) => boolean;
  /** preConnect: remembers the client id (the request id) and scopes it, as device client ids are. */
  preConnect: (client: Client, packet: ConnectPacket) => void;
  authenticate: (client: Client, password: Buffer | undefined, done: (err: ConnackError | null, ok: boolean | null) => void) => void;
  /** Is this client a provisioning client (admitted)? */
  owns: (client: Client | null) => boolean;
  authorizePublish: (client: Client, packet: PublishPacket, done: (err?: Error | null) => void) => void;
  authorizeSubscribe: (client: Client, sub: Subscription, done: (err: Error | null, sub?: Subscription | null) => void) => void;
  authorizeForward: (client: Client, packet: AedesPublishPacket) => AedesPublishPacket | null;
  /** Settles when every request being answered now has been. */
  settled: () => Promise<unknown>;
  stopAccepting: () => void;
}

export interface ProvisioningClientsOptions {
  gate: ProvisioningGate;
  counters: BrokerCounters;
  log: Logger;
  /** Publishes a reply through the broker (QoS 1). */
  publish: (topic: string, payload: string) => Promise<void>;
}

export function createProvisioningClients({ gate, counters, log, publish }: ProvisioningClientsOptions): ProvisioningClients {
  const requestIdOf = new WeakMap<Client, { requestId: string; hasWill: boolean }>();
  const admitted = new WeakMap<Client, ProvisioningClient>();
  const inFlight = new Set<Promise<void>>();
  let closing = false;

  function denied(entry: ProvisioningClient | undefined, topic: string): void {
    counters.refuse(
      'aclDenials',
      `provision-acl:${entry?.requestId}`,
      { requestId: entry?.requestId, topic: topic.slice(0, 200) },
      'provisioning client refused a topic',
    );
    void gate
      .recordTopicDenied(entry?.session ?? null, entry?.requestId ?? null, topic)
      .catch((err: unknown) => log.error({ err }, 'could not record a provisioning topic refusal'));
  }

  async function answer(entry: ProvisioningClient, payload: Buffer): Promise<void> {
    const outcome = await gate.handleRequest(entry.session, entry.requestId, payload);
    if (outcome.ok) {
      await publish(
        provisionTopics.accepted(entry.requestId),
        JSON.stringify({ deviceId: outcome.deviceId, username: outcome.username, password: outcome.password }),
      );
    } else {
      await publish(provisionTopics.rejected(entry.requestId), JSON.stringify({ code: outcome.error.code, message: outcome.error.message }));
    }
  }

  return {
    claims: (username) => username === PROVISIONING_USERNAME,

    preConnect(client, packet) {
      requestIdOf.set(client, { requestId: packet.clientId, hasWill: packet.will !== undefined && packet.will !== null });
      // Scoped like a device's (authentication.ts): a provisioning client can never take over a device's session.
      packet.clientId = `${PROVISIONING_USERNAME}:${packet.clientId}`;
    },

    authenticate(client, password, done) {
      const connect = requestIdOf.get(client);
      requestIdOf.delete(client);
      const requestId = connect?.requestId;
      if (!isValidDeviceId(requestId)) {
        counters.refuse('authFailures', 'provision-auth:client-id', {}, 'provisioning CONNECT refused: the client id must be a valid request id');
        return done(connackError(IDENTIFIER_REJECTED, 'the client id must be 1–64 characters of A–Z, a–z, 0–9, ".", "_" or "-"'), null);
      }
      if (connect?.hasWill) return done(connackError(NOT_AUTHORIZED, 'provisioning clients may not leave a Last Will'), null);
      gate.authenticateClaim(password?.toString('utf8'), requestId).then(
        (session) => {
          if (!session.ok) {
            counters.refuse('authFailures', `provision-auth:${session.error.code}`, { requestId, code: session.error.code }, 'provisioning CONNECT refused');
            return done(connackError(BAD_USERNAME_OR_PASSWORD, 'bad user name or password'), null);
          }
          admitted.set(client, { requestId, session });
          done(null, true);
        },
        (err: unknown) => {
          log.error({ err, requestId }, 'provisioning authentication failed; refusing connect with "server unavailable"');
          done(connackError(SERVER_UNAVAILABLE, 'server unavailable'), null);
        },
      );
    },

    owns: (client) => client !== null && admitted.has(client),

    authorizePublish(client, packet, done) {
      const entry = admitted.get(client);
      if (!entry || parseProvisionRequestTopic(packet.topic) !== entry.requestId) {
        denied(entry, packet.topic);
        return done(new Error('publish not authorized'));
      }
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload, 'utf8') : packet.payload;
      if (payload.length > MAX_REQUEST_BYTES * 4) {
        counters.refuse(
          'oversize',
          `provision-size:${entry.requestId}`,
          { requestId: entry.requestId, bytes: payload.length },
          'provisioning request too large',
        );
        return done(new Error('payload too large'));
      }
      if (closing) return done(new Error('not accepting messages'));
      packet.retain = false;
      const run = answer(entry, payload)
        .then(
          () => null,
          (err: unknown) => {
            counters.bump('handlerErrors');
            log.error({ err, requestId: entry.requestId }, 'provisioning request failed; left unacknowledged');
            return new Error('provisioning request failed');
          },
        )
        .then((outcome) => {
          inFlight.delete(run);
          done(outcome);
        });
      inFlight.add(run);
    },

    authorizeSubscribe(client, sub, done) {
      const entry = admitted.get(client);
      if (entry && isProvisionReplyFilter(entry.requestId, sub.topic)) return done(null, sub);
      denied(entry, sub.topic);
      done(null, null);
    },

    authorizeForward(client, packet) {
      const entry = admitted.get(client);
      // Only the answers to its own request: never its own request echoed, never another client's.
      if (!entry) return null;
      return packet.topic === provisionTopics.accepted(entry.requestId) || packet.topic === provisionTopics.rejected(entry.requestId) ? packet : null;
    },

    settled: () => Promise.allSettled([...inFlight]),
    stopAccepting: () => void (closing = true),
  };
}
