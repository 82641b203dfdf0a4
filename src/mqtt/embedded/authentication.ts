/**
 * CONNECT handling: client ids scoped by the claimed username, credentials checked by the
 * {@link DeviceAuthenticator}, the Last Will checked once the device is known, and a session opened
 * with a secret in its rotation grace period given its closing time.
 */
import type { Client, ConnectPacket } from 'aedes';
import type { Logger } from 'pino';
import { isValidDeviceId } from '../../domain/ids.ts';
import { createTokenBuckets } from '../../security/token-bucket.ts';
import type { AuthDecision, DeviceAuthenticator } from '../transport.ts';
import { connectionGone, countAbandoned } from './abandoned.ts';
import type { Authorization, LastWill } from './authorization.ts';
import type { BrokerCounters } from './counters.ts';
import type { CertificateLogins } from './certificates.ts';
import type { ProvisioningClients } from './provisioning.ts';
import type { SessionExpiry } from './expiry.ts';
import type { Sessions } from './sessions.ts';

/** CONNACK return codes (MQTT 3.1.1 §3.2.2.3); Aedes' own enum is a const enum we cannot import. */
const SERVER_UNAVAILABLE = 3;
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

type ConnackError = Error & { returnCode: number };

function connackError(returnCode: number, message: string): ConnackError {
  return Object.assign(new Error(message), { returnCode });
}

export interface Authentication {
  /** Aedes `preConnect`: scopes the client id by the claimed username and keeps the Last Will for later. */
  preConnect: (client: Client, packet: ConnectPacket, done: (err: Error | null, ok: boolean) => void) => void;
  /** Aedes `authenticate`: a refusal answers with the CONNACK code of the module comment in index.ts. */
  authenticate: (
    client: Client,
    username: Readonly<string | undefined>,
    password: Readonly<Buffer | undefined>,
    done: (err: ConnackError | null, ok: boolean | null) => void,
  ) => void;
}

export interface AuthenticationOptions {
  authenticator: DeviceAuthenticator;
  log: Logger;
  counters: BrokerCounters;
  sessions: Pick<Sessions, 'identify'>;
  expiry: Pick<SessionExpiry, 'expireAt'>;
  authorization: Pick<Authorization, 'admitsWill'>;
  /**
   * CONNECTs admitted per second (a token bucket holding one second's worth); beyond it a CONNECT is
   * refused with "server unavailable" before any database work. Undefined or 0: no limit.
   */
  maxConnectsPerSecond?: number | undefined;
  /** Milliseconds clock of the admission bucket (tests). */
  now?: () => number;
  /** Provisioning clients (username `provision`), when provisioning is on. */
  provisioning?: Pick<ProvisioningClients, 'claims' | 'preConnect' | 'authenticate'> | undefined;
  /** Device certificates (./certificates.ts): a TLS client with a certificate and no password logs in on it. */
  certificates?: CertificateLogins | undefined;
}

export function createAuthentication({
  authenticator,
  log,
  counters,
  sessions,
  expiry,
  authorization,
  maxConnectsPerSecond,
  now,
  provisioning,
  certificates,
}: AuthenticationOptions): Authentication {
  /** Last Wills seen at CONNECT, checked against the ACL once we know who the device is. */
  const willOf = new WeakMap<Client, LastWill>();
  // One bucket for the whole broker: a storm is many devices at once, not one device too often.
  const admission = maxConnectsPerSecond
    ? createTokenBuckets({ ratePerSecond: maxConnectsPerSecond, burst: maxConnectsPerSecond, maxBuckets: 1, ...(now ? { now } : {}) })
    : undefined;

  return {
    preConnect(client, packet, done) {
      if (provisioning?.claims(packet.username)) {
        provisioning.preConnect(client, packet);
        return done(null, true);
      }
      // Aedes keys sessions and takeovers by client id, which the device chooses. Scope it by the claimed
      // username so one device can neither kick another off (MQTT-3.1.4-2) nor resume its persistent
      // session; `:` cannot occur in a device id, so scoped ids never collide. Wrong credentials are
      // refused before the id is ever registered.
      if (isValidDeviceId(packet.username) && packet.clientId && packet.clientId !== packet.username) {
        packet.clientId = `${packet.username}:${packet.clientId}`;
      }
      if (packet.will) willOf.set(client, packet.will);
      done(null, true);
    },

    authenticate(client, username, password, done) {
      if (provisioning?.claims(username)) return provisioning.authenticate(client, password, done);
      const remote = client.conn && 'remoteAddress' in client.conn ? client.conn.remoteAddress : undefined;
      if (!isValidDeviceId(username)) {
        counters.refuse(
          'authFailures',
          `auth:${remote}`,
          { remote, username: String(username).slice(0, 80) },
          'MQTT connect refused: username is not a valid device id',
        );
        return done(connackError(BAD_USERNAME_OR_PASSWORD, 'bad user name or password'), null);
      }
      const deviceId = username;
      // Checked before the admission bucket too: a client that already left must not use up a token.
      if (connectionGone(client)) {
        countAbandoned(counters, log, 'before-auth', deviceId);
        return done(connackError(SERVER_UNAVAILABLE, 'server unavailable'), null);
      }
      if (admission && !admission.take('connects').allowed) {
        // Refused before the credentials are looked up: a storm costs the database nothing. MQTT 3.1.1
        // has no retry hint in CONNACK; "server unavailable" is the code clients treat as "try later".
        counters.refuse(
          'connectsThrottled',
          'connects-throttled',
          { deviceId, remote, maxConnectsPerSecond },
          'MQTT connect refused: admission rate exceeded (MQTT_MAX_CONNECTS_PER_S)',
        );
        return done(connackError(SERVER_UNAVAILABLE, 'server unavailable'), null);
      }
      // A password CONNECT is judged on the password exactly as without certificates, whatever the TLS peer sent.
      const attempt = { abandoned: () => connectionGone(client) };
      const certificate = password === undefined ? certificates?.peerCertificate(client) : undefined;
      Promise.resolve()
        .then((): Promise<AuthDecision | 'certificate-refused'> =>
          certificate && certificates
            ? certificates.judge(client, deviceId, certificate).then((judged) => (judged.ok ? true : ('certificate-refused' as const)))
            : authenticator.authenticate(deviceId, password, attempt),
        )
        .then(
          (decision) => {
            // The client left while its credentials were looked up: nothing of it is kept (no identity,
            // no closing timer), so Aedes, which drops the answer for a closed client, registers nothing.
            if (connectionGone(client)) {
              willOf.delete(client);
              countAbandoned(counters, log, 'after-auth', deviceId);
              return done(connackError(SERVER_UNAVAILABLE, 'server unavailable'), null);
            }
            // Counted and logged by reason in ./certificates.ts; "not authorized" as for a refused Last Will.
            if (decision === 'certificate-refused') return done(connackError(NOT_AUTHORIZED, 'not authorized'), null);
            if (!decision) {
              counters.refuse('authFailures', `auth:${deviceId}`, { deviceId, remote }, 'MQTT connect refused: bad credentials');
              return done(connackError(BAD_USERNAME_OR_PASSWORD, 'bad user name or password'), null);
            }
            const will = willOf.get(client);
            willOf.delete(client);
            if (will && !authorization.admitsWill(deviceId, will)) return done(connackError(NOT_AUTHORIZED, 'not authorized'), null);
            sessions.identify(client, deviceId);
            if (typeof decision === 'object') expiry.expireAt(client, deviceId, decision.expiresAt);
            done(null, true);
          },
          (err: unknown) => {
            willOf.delete(client);
            if (connectionGone(client)) {
              // Left out of the credentials lookup (or the lookup failed after it left): no one to answer.
              countAbandoned(counters, log, 'auth-batch', deviceId);
              return done(connackError(SERVER_UNAVAILABLE, 'server unavailable'), null);
            }
            log.error({ err, deviceId }, 'device authenticator failed; refusing connect with "server unavailable"');
            done(connackError(SERVER_UNAVAILABLE, 'server unavailable'), null);
          },
        );
    },
  };
}
