/**
 * CONNECTs whose client already gave up. In a storm a CONNECT can wait for the server longer than its
 * client waits for the CONNACK; the client closes the socket and retries, and every step still done
 * for the dead attempt (credentials lookup, connection write, delta hand-over, command round) delays
 * the live ones behind it: congestion collapse. Each step checks the socket first and drops the
 * attempt when it is gone, counted in `doppel_mqtt_connects_abandoned_total` (./counters.ts).
 */
import type { BrokerCounters } from './counters.ts';

/** Where an abandoned CONNECT was dropped (logged, for telling the stages apart). */
export type AbandonedStage = 'before-auth' | 'auth-batch' | 'after-auth' | 'before-register' | 'post-connect';

/** The part of an Aedes client we look at: its closed flag and its stream. */
export interface ClosableClient {
  readonly closed?: boolean;
  readonly conn?: unknown;
}

/**
 * The client's connection is closed: Aedes closed the client, or the stream is destroyed (the peer
 * reset it; Aedes learns of it a turn of the event loop later, on 'close').
 */
export function connectionGone(client: ClosableClient): boolean {
  if (client.closed === true) return true;
  const conn = client.conn as { destroyed?: boolean } | undefined;
  return conn?.destroyed === true;
}

/** Counts one abandoned CONNECT. Debug only: in a storm there are thousands, the counter says how many. */
export function countAbandoned(
  counters: Pick<BrokerCounters, 'bump'>,
  log: { debug: (fields: object, message: string) => void },
  stage: AbandonedStage,
  deviceId?: string,
): void {
  counters.bump('connectsAbandoned');
  log.debug({ stage, deviceId }, 'MQTT connect abandoned by its client; dropped');
}
