/**
 * The embedded MQTT broker (docs/operations.md): Aedes on a plain TCP listener, with device authentication,
 * the topic ACL of acl.ts, and device → server messages handed to the message handler *before* they
 * are acknowledged, so a QoS 1 PUBACK means "processed".
 *
 * How refusals look to a device (Aedes 1.2, MQTT 3.1/3.1.1 only — Aedes does not speak MQTT 5):
 * - bad credentials, unknown device, invalid device id as username: CONNACK 4 "bad user name or
 *   password", then the connection is closed. A failing authenticator, or CONNECTs faster than
 *   `maxConnectsPerSecond`: CONNACK 3 "server unavailable".
 *   A Last Will outside the device's own publish topics: CONNACK 5 "not authorized".
 * - SUBSCRIBE outside its own `twin/#` / `commands/#`: SUBACK return code 0x80 for that filter, the
 *   other filters of the packet are granted and the connection stays up.
 * - PUBLISH outside its own device → server topics, or with a payload above `maxPayloadBytes`: the
 *   message is dropped, not acknowledged, and the connection is closed (MQTT 3.1.1 has no negative
 *   PUBACK; this is Aedes' behaviour for an `authorizePublish` error).
 * - A packet whose declared length could not hold a payload within the limit is cut off while it
 *   arrives (the connection is destroyed), so a device cannot make us buffer hundreds of MB.
 *
 * Parts: authentication.ts (CONNECT), authorization.ts (ACL decisions), delivery.ts (messages both
 * ways), sessions.ts + expiry.ts (who is connected, grace-period closings), frame-guard.ts (packet
 * size while bytes arrive), listener.ts (Aedes, TCP, shutdown), counters.ts (refusals, /metrics),
 * websocket.ts (MQTT over WebSocket at /mqtt), protocol-versions.ts (MQTT 5 refused with a hint).
 */
import type { Logger } from 'pino';
import type { Metrics } from '../../metrics.ts';
import type { DeviceAuthenticator, MqttTransport } from '../transport.ts';
import { countAbandoned } from './abandoned.ts';
import { createAuthentication } from './authentication.ts';
import { createAuthorization } from './authorization.ts';
import { createBrokerCounters, type EmbeddedBrokerStats } from './counters.ts';
import { createInboundDelivery, publishThrough } from './delivery.ts';
import { createSessionExpiry } from './expiry.ts';
import { FRAME_OVERHEAD_BYTES, guardFrameSize } from './frame-guard.ts';
import { createBrokerListener } from './listener.ts';
import { createProvisioningClients } from './provisioning.ts';
import { createProtocolCheck } from './protocol-versions.ts';
import { createSessions } from './sessions.ts';
import { createCertificateLogins, type CertificateFacts } from './certificates.ts';
import type { CertificateRefusalReason } from '../../security/device-certificates.ts';
import { createHandshakeFailures, refuseTlsOnPlainSocket, type HandshakeFailureReason } from './tls.ts';
import type tls from 'node:tls';
import { createMqttWebSocketEndpoint, type MqttWebSocketEndpoint } from './websocket.ts';
import type { ProvisioningGate } from '../../services/provisioning/index.ts';

export { BROKER_METRIC_NAMES, type EmbeddedBrokerStats } from './counters.ts';
export { FrameScanner } from './frame-guard.ts';
export { PROTOCOL_REFUSED_METRIC } from './protocol-versions.ts';
export { MQTT_WS_PATH, type MqttWebSocketEndpoint } from './websocket.ts';

/** Gauge: clients connected to the embedded broker. */
export const CONNECTED_CLIENTS_METRIC = 'doppel_mqtt_connected_clients';

export interface EmbeddedTransportOptions {
  /** TCP port; 0 picks a free one (read it back from `transport.port`). */
  port: number;
  host: string;
  authenticator: DeviceAuthenticator;
  logger: Logger;
  /** Largest payload accepted from a device (also a device's Last Will), in bytes. */
  maxPayloadBytes: number;
  /** How long `stop()` waits for clients and in-flight handlers before destroying sockets. Default 3000 ms. */
  closeTimeoutMs?: number;
  /** How long a new TCP connection may take to send CONNECT. Default 10000 ms. */
  connectTimeoutMs?: number;
  /** Where refusals are counted for /metrics (besides stats()). */
  metrics?: Metrics;
  /** CONNECTs admitted per second; beyond it CONNACK 3 "server unavailable". Undefined or 0: no limit. */
  maxConnectsPerSecond?: number;
  /** Provisioning clients (username `provision`, ./provisioning.ts); without it `provision` is an unknown user. */
  provisioning?: ProvisioningGate;
  /** MQTT over TLS on a second port (./tls.ts); the key and certificate can be swapped later with `setSecureContext`. */
  tls?: { port: number; host: string; context: () => tls.SecureContextOptions } | undefined;
  /**
   * Device certificates (mutual TLS, ./certificates.ts): with it the TLS listener asks for a client
   * certificate (never requires one) and a password-less CONNECT over TLS is judged on it.
   */
  certificates?: CertificateFacts | undefined;
}

export interface EmbeddedTransport extends MqttTransport {
  readonly kind: 'embedded';
  /** Refusals and handler failures counted since creation. */
  stats(): EmbeddedBrokerStats;
  /** The TLS listener's port, undefined without one. */
  readonly tlsPort: number | undefined;
  /** Replaces the TLS key and certificate for new handshakes; connected devices stay connected. */
  setSecureContext(context: tls.SecureContextOptions): void;
  /** TLS handshakes (and TLS on the plain port) refused so far, by reason. */
  handshakeFailures(): Partial<Record<HandshakeFailureReason, number>>;
  /** The devices connected with the certificate of this fingerprint. */
  certificateHolders(fingerprint: string): string[];
  /** Closes the connections of `deviceId` logged in with this certificate (a revocation); returns how many. */
  disconnectCertificate(fingerprint: string, deviceId: string): number;
  /** CONNECTs with a client certificate refused so far, by reason. */
  certificateRefusals(): Partial<Record<CertificateRefusalReason, number>>;
  /** MQTT over WebSocket into this broker (./websocket.ts); the HTTP server routes `/mqtt` upgrades to it. */
  readonly webSocket: MqttWebSocketEndpoint;
}

export function createEmbeddedTransport(options: EmbeddedTransportOptions): EmbeddedTransport {
  const { maxPayloadBytes } = options;
  const log = options.logger;
  const counters = createBrokerCounters(log, options.metrics);
  const handshakeFailures = createHandshakeFailures(log, options.metrics);
  const sessions = createSessions(log, (deviceId) => countAbandoned(counters, log, 'post-connect', deviceId));
  const expiry = createSessionExpiry(log);
  const authorization = createAuthorization({ identity: sessions, counters, maxPayloadBytes });
  const provisioning = options.provisioning
    ? createProvisioningClients({
        gate: options.provisioning,
        counters,
        log,
        publish: (topic, payload) => {
          const broker = listener.broker();
          return broker ? publishThrough(broker, topic, payload, { qos: 1 }) : Promise.reject(new Error('embedded MQTT broker is not running'));
        },
      })
    : undefined;
  const certificates = options.certificates ? createCertificateLogins({ facts: options.certificates, log, metrics: options.metrics }) : undefined;
  const authentication = createAuthentication({
    authenticator: options.authenticator,
    log,
    counters,
    sessions,
    expiry,
    authorization,
    maxConnectsPerSecond: options.maxConnectsPerSecond,
    provisioning,
    certificates,
  });
  const supportedProtocol = createProtocolCheck(log, options.metrics);
  const inbound = createInboundDelivery({ authorization, counters, log, maxPayloadBytes });
  const listener = createBrokerListener({
    port: options.port,
    host: options.host,
    log,
    hooks: {
      // An unsupported version (MQTT 5) is counted and explained here; Aedes then refuses it with CONNACK 1.
      preConnect: (client, packet, done) => (supportedProtocol(client, packet) ? authentication.preConnect(client, packet, done) : done(null, true)),
      authenticate: authentication.authenticate,
      // Provisioning clients are no devices: their own topic rules (./provisioning.ts), everyone else the device ACL.
      authorizePublish: (client, packet, done) =>
        provisioning && client && provisioning.owns(client)
          ? provisioning.authorizePublish(client, packet, done)
          : inbound.authorizePublish(client, packet, done),
      authorizeSubscribe: (client, sub, done) =>
        provisioning?.owns(client) ? provisioning.authorizeSubscribe(client, sub, done) : authorization.authorizeSubscribe(client, sub, done),
      authorizeForward: (client, packet) =>
        provisioning?.owns(client) ? provisioning.authorizeForward(client, packet) : authorization.authorizeForward(client, packet),
    },
    sessions,
    expiry,
    inbound: provisioning
      ? {
          stopAccepting: () => (inbound.stopAccepting(), provisioning.stopAccepting()),
          settled: () => Promise.all([inbound.settled(), provisioning.settled()]),
        }
      : inbound,
    onAbandoned: (client) => countAbandoned(counters, log, 'before-register', sessions.deviceOf(client)),
    onClientSocket: (client, socket) => {
      guardFrameSize(client, socket, { maxPayloadBytes, log, counters, identity: sessions });
      refuseTlsOnPlainSocket(client, socket, handshakeFailures);
    },
    closeTimeoutMs: options.closeTimeoutMs ?? 3000,
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    tls: options.tls ? { ...options.tls, failures: handshakeFailures, requestCert: certificates !== undefined } : undefined,
  });

  // Read at scrape time from Aedes' own count: nothing to keep in step.
  options.metrics?.describe(
    CONNECTED_CLIENTS_METRIC,
    'MQTT clients connected to the embedded broker now (devices and provisioning clients, TCP and WebSocket).',
    'gauge',
  );
  options.metrics?.beforeRender(() => options.metrics?.set(CONNECTED_CLIENTS_METRIC, {}, listener.broker()?.connectedClients ?? 0));
  const webSocket = createMqttWebSocketEndpoint({
    accept: listener.handleStream,
    maxMessageBytes: maxPayloadBytes + FRAME_OVERHEAD_BYTES,
    log,
    metrics: options.metrics,
  });

  return {
    kind: 'embedded',
    webSocket,
    start: listener.start,
    stop: listener.stop,
    isReady: listener.isReady,
    publish(topic, payload, opts) {
      const broker = listener.broker();
      if (!broker) return Promise.reject(new Error('embedded MQTT broker is not running'));
      return publishThrough(broker, topic, payload, opts);
    },
    setMessageHandler: inbound.setMessageHandler,
    setConnectionHandler: sessions.setConnectionHandler,
    disconnect: sessions.disconnect,
    retireSessions(deviceId, at) {
      for (const client of sessions.clientsOf(deviceId)) expiry.expireAt(client, deviceId, at);
    },
    get port() {
      return listener.port;
    },
    stats: counters.snapshot,
    get tlsPort() {
      return listener.tlsPort;
    },
    setSecureContext: (context) => listener.setSecureContext(context),
    handshakeFailures: () => handshakeFailures.snapshot(),
    certificateHolders: (fingerprint) => [...new Set((certificates?.clientsWith(fingerprint) ?? []).map((held) => held.deviceId))],
    disconnectCertificate(fingerprint, deviceId) {
      const clients = (certificates?.clientsWith(fingerprint) ?? []).filter((held) => held.deviceId === deviceId);
      for (const { client } of clients) client.close();
      if (clients.length > 0) log.info({ fingerprint, deviceId, clients: clients.length }, 'disconnected clients using a revoked certificate');
      return clients.length;
    },
    certificateRefusals: () => certificates?.refusals() ?? {},
  };
}
