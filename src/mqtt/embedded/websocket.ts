/**
 * MQTT over WebSocket (`/mqtt` on the HTTP server, so over wss when the API is HTTPS): each WebSocket
 * becomes a byte stream handed to the same Aedes, hooks and frame guard as a TCP socket
 * (listener.ts `handleStream`), so authentication, the ACL and the payload limits are the ones of TCP.
 * MQTT over WebSocket is binary frames carrying MQTT bytes (MQTT 3.1.1 §6); the client must offer
 * the subprotocol `mqtt` (or `mqttv3.1`): anything else is not an MQTT client and is closed with
 * 1002 "protocol error" before the broker sees a byte.
 */
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { Metrics } from '../../metrics.ts';
import type { ClientStream } from './listener.ts';

export const MQTT_WS_PATH = '/mqtt';
/** Subprotocols of MQTT over WebSocket: `mqtt` (3.1.1 and 5), `mqttv3.1` (3.1). */
export const MQTT_WS_SUBPROTOCOLS: readonly string[] = ['mqtt', 'mqttv3.1'];
/** WebSocket connections at /mqtt refused before MQTT (label reason: subprotocol). */
export const MQTT_WS_REFUSED_METRIC = 'doppel_mqtt_ws_refused_total';
/** WebSocket connections at /mqtt handed to the broker. */
export const MQTT_WS_CONNECTIONS_METRIC = 'doppel_mqtt_ws_connections_total';
/** Close code for a WebSocket client that did not ask for MQTT (RFC 6455 1002: protocol error). */
export const MQTT_WS_PROTOCOL_ERROR_CLOSE = 1002;

export interface MqttWebSocketEndpoint {
  /** The handshake of one upgrade request to MQTT_WS_PATH (register it with src/http/upgrade.ts). */
  handleUpgrade(request: http.IncomingMessage, socket: Duplex, head: Buffer): void;
}

export interface MqttWebSocketOptions {
  /** Where accepted connections go: the broker listener's `handleStream`. */
  accept: (stream: ClientStream) => void;
  /**
   * Largest WebSocket message, in bytes: the frame guard's limit (payload limit + header headroom).
   * mqtt.js sends one MQTT packet per message; a bigger message is refused by ws (close 1009) before
   * it is buffered whole.
   */
  maxMessageBytes: number;
  log: Logger;
  metrics?: Metrics | undefined;
}

export function createMqttWebSocketEndpoint({ accept, maxMessageBytes, log, metrics }: MqttWebSocketOptions): MqttWebSocketEndpoint {
  metrics?.describe(
    MQTT_WS_REFUSED_METRIC,
    'WebSocket connections at /mqtt closed before MQTT because they did not offer the subprotocol mqtt (label reason).',
  );
  metrics?.describe(MQTT_WS_CONNECTIONS_METRIC, 'WebSocket connections at /mqtt handed to the embedded broker.');
  const server = new WebSocketServer({
    noServer: true,
    maxPayload: maxMessageBytes,
    // MQTT payloads are the devices' own business; compression would cost CPU per message and memory per connection.
    perMessageDeflate: false,
    handleProtocols: (offered) => MQTT_WS_SUBPROTOCOLS.find((protocol) => offered.has(protocol)) ?? false,
  });
  server.on('connection', (ws, request) => {
    const remoteAddress = request.socket.remoteAddress;
    if (!MQTT_WS_SUBPROTOCOLS.includes(ws.protocol)) {
      metrics?.inc(MQTT_WS_REFUSED_METRIC, { reason: 'subprotocol' });
      log.debug({ remote: remoteAddress, offered: request.headers['sec-websocket-protocol'] }, 'WebSocket at /mqtt refused: no MQTT subprotocol');
      ws.close(MQTT_WS_PROTOCOL_ERROR_CLOSE, 'MQTT over WebSocket needs the subprotocol "mqtt"');
      return;
    }
    // Small server → device writes (commands, replies) must not wait for Nagle, as on TCP (listener.ts).
    request.socket.setNoDelay(true);
    metrics?.inc(MQTT_WS_CONNECTIONS_METRIC);
    const stream: ClientStream = createWebSocketStream(ws);
    // Authentication and the frame guard log and throttle by the peer's address, as for TCP.
    stream.remoteAddress = remoteAddress;
    accept(stream);
  });
  return {
    handleUpgrade(request, socket, head) {
      server.handleUpgrade(request, socket, head, (ws) => server.emit('connection', ws, request));
    },
  };
}
