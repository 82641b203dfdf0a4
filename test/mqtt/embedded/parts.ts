/** Stand-ins shared by the embedded broker's part tests: Aedes clients and packets, counters on a registry. */
import type { Client, PublishPacket } from 'aedes';
import { pino } from 'pino';
import { Metrics } from '../../../src/metrics.ts';
import { createBrokerCounters } from '../../../src/mqtt/embedded/counters.ts';
import { createSessions } from '../../../src/mqtt/embedded/sessions.ts';

export const log = pino({ level: 'silent' });

/** A stand-in for an Aedes client: enough for the parts (id, close, the socket's remote address). */
export function fakeClient(id: string): Client {
  return { id, conn: { remoteAddress: '192.0.2.1' }, close: (cb?: () => void) => cb?.() } as unknown as Client;
}

export function publishPacket(topic: string, payload: string | Buffer, retain = false): PublishPacket {
  return { cmd: 'publish', topic, payload, qos: 1, retain, dup: false };
}

/** Counters on a real registry, sessions with one identified client per device id given. */
export function partsFor(...deviceIds: string[]) {
  const metrics = new Metrics();
  const counters = createBrokerCounters(log, metrics);
  const sessions = createSessions(log);
  const clients = new Map(deviceIds.map((deviceId) => [deviceId, fakeClient(deviceId)]));
  for (const [deviceId, client] of clients) sessions.identify(client, deviceId);
  return { metrics, counters, sessions, clientOf: (deviceId: string) => clients.get(deviceId)! };
}
