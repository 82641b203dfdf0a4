/**
 * Who each broker client is and which devices are connected: the authenticated device behind every
 * client, the clients each device has open, and one {@link ConnectionEvent} when a device's first
 * connection comes up or its last one goes down.
 */
import type { Logger } from 'pino';
import type { ConnectionEvent } from '../transport.ts';
import { connectionGone, type ClosableClient } from './abandoned.ts';
import { createDeviceClients } from './device-clients.ts';

/** The part of an Aedes client sessions use (an Aedes `Client` is one). */
export interface SessionClient {
  readonly id: string;
  close(callback?: () => void): void;
}

/** The device behind a client, once it authenticated. Never trust `client.id` for identity: the device chooses it. */
export interface ClientIdentity {
  deviceOf: (client: SessionClient) => string | undefined;
}

export interface Sessions extends ClientIdentity {
  /** `client` authenticated as `deviceId` (not yet registered: its CONNACK is still to go out). */
  identify: (client: SessionClient, deviceId: string) => void;
  /** An identified client is registered (Aedes 'client'): may announce the device connected. */
  opened: (client: SessionClient) => void;
  /** A client went away (Aedes 'clientDisconnect'): may announce the device disconnected. */
  closed: (client: SessionClient) => void;
  /** The device's registered clients now. */
  clientsOf: (deviceId: string) => SessionClient[];
  /** Closes every client of the device; `false` when it had none. */
  disconnect: (deviceId: string) => Promise<boolean>;
  /** Exactly one handler; it is told of first connects and last disconnects. */
  setConnectionHandler: (handler: (ev: ConnectionEvent) => void) => void;
}

/**
 * `onAbandoned` counts a connect whose follow-up work was skipped because its client had gone
 * (./abandoned.ts); no-op when not given.
 */
export function createSessions(log: Logger, onAbandoned: (deviceId: string) => void = () => undefined): Sessions {
  const deviceOf = new WeakMap<SessionClient, string>();
  const clients = createDeviceClients<SessionClient>();
  let connectionHandler: ((ev: ConnectionEvent) => void) | undefined;

  function emitConnection(deviceId: string, connected: boolean, client: SessionClient): void {
    if (!connectionHandler) return;
    // On a connect, the handler may skip its follow-up work when this client has gone again meanwhile.
    const dropIfGone = connected
      ? () => {
          if (!connectionGone(client as ClosableClient)) return false;
          onAbandoned(deviceId);
          return true;
        }
      : undefined;
    try {
      connectionHandler({ deviceId, connected, at: Date.now(), ...(dropIfGone ? { dropIfGone } : {}) });
    } catch (err) {
      log.error({ err, deviceId }, 'MQTT connection handler threw');
    }
  }

  return {
    identify: (client, deviceId) => void deviceOf.set(client, deviceId),
    deviceOf: (client) => deviceOf.get(client),
    opened(client) {
      const deviceId = deviceOf.get(client);
      if (deviceId === undefined) return;
      const first = clients.add(deviceId, client);
      log.debug({ deviceId, clientId: client.id }, 'device connected');
      if (first) emitConnection(deviceId, true, client);
    },
    closed(client) {
      const deviceId = deviceOf.get(client);
      if (deviceId === undefined) return;
      const removal = clients.remove(deviceId, client);
      if (removal === 'untracked') return;
      log.debug({ deviceId, clientId: client.id }, 'device disconnected');
      if (removal === 'last') emitConnection(deviceId, false, client);
    },
    clientsOf: (deviceId) => clients.of(deviceId),
    async disconnect(deviceId) {
      const open = clients.of(deviceId);
      if (open.length === 0) return false;
      await Promise.all(open.map((client) => new Promise<void>((resolve) => client.close(() => resolve()))));
      return true;
    },
    setConnectionHandler(handler) {
      if (connectionHandler) throw new Error('MQTT connection handler already set');
      connectionHandler = handler;
    },
  };
}
