/**
 * Which MQTT versions the embedded broker speaks: 3.1 (protocol level 3) and 3.1.1 (level 4). Aedes
 * answers any other CONNECT (MQTT 5 is level 5) with CONNACK "unacceptable protocol version" and no
 * word to anyone; this check, run first in `preConnect`, counts the refusal by version and warns with
 * the way out, at most once a minute per client, so an operator can tell why a device never connects.
 */
import type { Client, ConnectPacket } from 'aedes';
import type { Logger } from 'pino';
import { ThrottledLog } from '../../logger.ts';
import type { Metrics } from '../../metrics.ts';

/** CONNECTs refused because of their protocol version, labelled `version` (e.g. "5"). */
export const PROTOCOL_REFUSED_METRIC = 'doppel_mqtt_protocol_refused_total';

/** MQTT protocol levels the embedded broker accepts: 3 = MQTT 3.1, 4 = MQTT 3.1.1. */
export const SUPPORTED_PROTOCOL_LEVELS: ReadonlySet<number> = new Set([3, 4]);

/** The hint in the warning: where an MQTT 5 device is served instead. */
export const MQTT5_HINT =
  'the embedded broker speaks MQTT 3.1.1 and 3.1; connect MQTT 5 devices through an external broker such as Mosquitto (MQTT_URL), see docs/device-contract.md "Protocol versions and transports"';

/** Returns the check: false (after counting and warning) for a CONNECT Aedes is about to refuse for its version. */
export function createProtocolCheck(log: Logger, metrics: Metrics | undefined): (client: Client, packet: ConnectPacket) => boolean {
  const throttled = new ThrottledLog(log);
  metrics?.describe(
    PROTOCOL_REFUSED_METRIC,
    'MQTT CONNECTs refused by the embedded broker for their protocol version (label version: the protocol level, 5 = MQTT 5).',
  );
  return (client, packet) => {
    const level = packet.protocolVersion ?? 0;
    if (SUPPORTED_PROTOCOL_LEVELS.has(level)) return true;
    const version = String(level);
    metrics?.inc(PROTOCOL_REFUSED_METRIC, { version });
    const remote = client.conn && 'remoteAddress' in client.conn ? client.conn.remoteAddress : undefined;
    const clientId = String(packet.clientId ?? '').slice(0, 80);
    throttled.warn(
      `protocol:${clientId || String(remote)}`,
      { protocolVersion: level, clientId, username: typeof packet.username === 'string' ? packet.username.slice(0, 80) : undefined, remote },
      `MQTT connect refused: protocol level ${version} is not supported (${MQTT5_HINT})`,
    );
    return false;
  };
}
