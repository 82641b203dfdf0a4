/**
 * The MQTT edge as the rest of Doppel sees it. Two adapters implement it — the embedded Aedes broker
 * and a client of an external broker using shared subscriptions — and nothing above this interface
 * branches on which one is running (docs/operations.md).
 */
import type { DeviceSessions } from '../services/ports.ts';
import type { InboundTopic } from './topics.ts';

export type { InboundTopic } from './topics.ts';

/** A device → server message whose topic passed the contract (and, embedded, the ACL). */
export interface InboundMessage {
  /** The device it came from: the authenticated username (embedded) or the topic's id level (external, whose broker enforced the ACL). */
  deviceId: string;
  topic: InboundTopic;
  payload: Buffer;
  /** When this process received it, epoch ms. */
  receivedAt: number;
  /**
   * Embedded: `true` when the sender's connection has closed since (see ConnectionEvent.dropIfGone):
   * an `online` from a device no longer there gets no command round. A `true` answer is counted as an
   * abandoned CONNECT.
   */
  dropIfGone?: () => boolean;
}

/** A device's connection to the embedded broker came up or went down. */
export interface ConnectionEvent {
  deviceId: string;
  /**
   * `true` when the device's first connection is established, `false` when its last one ends. A device
   * with several simultaneous connections (different client ids) is connected while any of them is.
   */
  connected: boolean;
  /** Epoch ms. */
  at: number;
  /**
   * Embedded, on a connect: `true` when the connection that raised the event has closed again (its
   * disconnect follows or already went out), so the work that only serves a live device (the delta
   * hand-over) is skipped. A `true` answer is counted as an abandoned CONNECT.
   */
  dropIfGone?: () => boolean;
}

/** Checks a device's MQTT credentials: username = device id, password = the device's secret. */
export interface DeviceAuthenticator {
  /**
   * `true` to accept; `{ expiresAt }` to accept a credential that stops working at that time (epoch ms:
   * an old secret inside its rotation grace period), after which the session is closed. Throwing (e.g.
   * the database is down) refuses with "server unavailable".
   */
  authenticate(deviceId: string, password: Buffer | undefined, connect?: ConnectAttempt): Promise<AuthDecision>;
}

/** What the broker knows of the CONNECT being authenticated. */
export interface ConnectAttempt {
  /**
   * `true` once the client closed its connection (it gave up waiting, typically in a storm): the
   * authenticator may then skip it in its lookup and reject, since no answer can reach it.
   */
  abandoned(): boolean;
}

/** The outcome of a device authentication: refused, accepted, or accepted until `expiresAt` (epoch ms). */
export type AuthDecision = boolean | { expiresAt: number };

export interface PublishOptions {
  qos: 0 | 1;
  retain?: boolean;
}

/**
 * The transport implements the session half of the devices service's {@link DeviceSessions} port
 * (`disconnect`, `retireSessions`); retained messages are the bridge's.
 */
export interface MqttTransport extends Pick<DeviceSessions, 'disconnect' | 'retireSessions'> {
  readonly kind: 'embedded' | 'external';
  /** Embedded: listen. External: connect and subscribe (resolves once subscribed). */
  start(): Promise<void>;
  /** Bounded: closes clients and listeners, never hangs. Idempotent. */
  stop(): Promise<void>;
  /** For /readyz: embedded is listening; external is connected and subscribed. */
  isReady(): boolean;
  /** Server → device publish; resolves when the broker has it (QoS 1: PUBACK in external mode). */
  publish(topic: string, payload: string | Buffer, opts: PublishOptions): Promise<void>;
  /**
   * The handler is awaited before the message is acknowledged to its sender (QoS 1), so slow processing
   * pushes back on publishers and a crash never loses an acknowledged message. Exactly one handler.
   * A handler that rejects is logged; the message is still acknowledged (a poison message must not be
   * redelivered forever), so handlers should settle their own failures.
   * Calls may overlap, also for one device: do not rely on per-device ordering.
   */
  setMessageHandler(handler: (msg: InboundMessage) => Promise<void>): void;
  /** Broker-level connects/disconnects of devices (embedded only; external brokers report through the device's retained `status` + Last Will instead). */
  setConnectionHandler(handler: (ev: ConnectionEvent) => void): void;
  /** Kick a device off the broker (embedded: close its clients; external: no-op, returns false — the dynamic-security sync kicks there). */
  disconnect(deviceId: string): Promise<boolean>;
  /**
   * The sessions a device has open now were opened with a secret that stops working at `at` (epoch ms,
   * the end of a rotation grace period): close them then. Sessions opened later with the new secret are
   * not affected. External: no-op.
   */
  retireSessions(deviceId: string, at: number): void;
  /** The actual port the embedded broker listens on (useful with port 0), undefined for external. */
  readonly port: number | undefined;
}
