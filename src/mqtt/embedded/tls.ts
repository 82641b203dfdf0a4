/**
 * MQTT over TLS for the embedded broker (docs/security.md, "Transport encryption"): a `tls.Server`
 * whose decrypted sockets go to the same Aedes connection handler as the plain listener's, TLS 1.2 or
 * newer only, with a secure context that can be swapped while it runs (a re-issued server certificate
 * reaches new handshakes; connected devices keep their sessions). Handshakes that fail — plain MQTT
 * sent to the TLS port, a client that does not trust our certificate, an old protocol — and TLS sent to
 * the plain port are counted by reason and logged (throttled); none of them reaches Aedes.
 */
import type { Client } from 'aedes';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { ThrottledLog } from '../../logger.ts';
import type { Metrics } from '../../metrics.ts';

export const TLS_HANDSHAKE_FAILURES_METRIC = 'doppel_mqtt_tls_handshake_failures_total';

/** Why a TLS connection never reached MQTT. */
export type HandshakeFailureReason =
  /** Plain MQTT (or anything not TLS) sent to the TLS port. */
  | 'not_tls'
  /** A TLS ClientHello sent to the plain port. */
  | 'tls_on_plain_port'
  /** The client refused our certificate (it does not trust the CA, or the name does not match). */
  | 'certificate_rejected'
  /** The client offered nothing newer than TLS 1.1, or no cipher we share. */
  | 'protocol'
  /** The client did not finish the handshake in time. */
  | 'timeout'
  /** The connection went away mid-handshake. */
  | 'reset'
  | 'other';

/** The reason for a `tlsClientError` as OpenSSL and Node name it. */
export function handshakeFailureReason(error: Error & { code?: string }): HandshakeFailureReason {
  const text = `${error.code ?? ''} ${error.message}`.toLowerCase();
  if (
    text.includes('wrong version number') ||
    text.includes('http request') ||
    text.includes('packet length too long') ||
    text.includes('record layer failure')
  ) {
    return 'not_tls';
  }
  if (text.includes('unknown ca') || text.includes('bad certificate') || text.includes('certificate unknown') || text.includes('decrypt error')) {
    return 'certificate_rejected';
  }
  if (text.includes('protocol') || text.includes('no shared cipher') || text.includes('handshake failure')) return 'protocol';
  if (text.includes('timeout') || text.includes('timed out')) return 'timeout';
  if (text.includes('econnreset') || text.includes('socket hang up') || text.includes('epipe')) return 'reset';
  return 'other';
}

/** The first byte of a TLS handshake record; an MQTT CONNECT starts with 0x10. */
const TLS_HANDSHAKE_RECORD = 0x16;

export interface HandshakeFailures {
  /** Counts (and logs, throttled) one failure. */
  record(reason: HandshakeFailureReason, remote: string | undefined, detail?: string): void;
  /** Failures by reason so far. */
  snapshot(): Partial<Record<HandshakeFailureReason, number>>;
}

export function createHandshakeFailures(log: Logger, metrics: Metrics | undefined): HandshakeFailures {
  const throttled = new ThrottledLog(log);
  const counts: Partial<Record<HandshakeFailureReason, number>> = {};
  metrics?.describe(
    TLS_HANDSHAKE_FAILURES_METRIC,
    'MQTT connections refused before MQTT began, by reason: not_tls (plain MQTT to the TLS port), tls_on_plain_port, certificate_rejected (the client does not trust our certificate), protocol, timeout, reset, other.',
  );
  return {
    record(reason, remote, detail) {
      counts[reason] = (counts[reason] ?? 0) + 1;
      metrics?.inc(TLS_HANDSHAKE_FAILURES_METRIC, { reason });
      throttled.warn(`tls:${reason}`, { reason, remote, ...(detail ? { detail: detail.slice(0, 200) } : {}) }, 'MQTT TLS handshake failed; connection closed');
    },
    snapshot: () => ({ ...counts }),
  };
}

/**
 * For the plain listener: a connection whose first byte opens a TLS handshake is counted and closed
 * before Aedes parses it as a malformed MQTT packet. Wraps the client's packet parser (as
 * frame-guard.ts does), so the bytes are looked at exactly once, where Aedes reads them.
 */
export function refuseTlsOnPlainSocket(client: Client, socket: { remoteAddress?: string | undefined; destroy(): unknown }, failures: HandshakeFailures): void {
  const parser = (client as unknown as { _parser?: { parse?: (buf: Buffer) => unknown } })._parser;
  if (!parser || typeof parser.parse !== 'function') return;
  const parse = parser.parse.bind(parser);
  let first = true;
  parser.parse = (buf: Buffer) => {
    if (first && buf.length > 0) {
      first = false;
      parser.parse = parse;
      if (buf[0] === TLS_HANDSHAKE_RECORD) {
        failures.record('tls_on_plain_port', socket.remoteAddress);
        socket.destroy();
        return 0;
      }
    }
    return parse(buf);
  };
}

export interface TlsListenerOptions {
  port: number;
  host: string;
  /** Key and certificate chain; swapped later with `setSecureContext`. */
  context: tls.SecureContextOptions;
  /** Ask devices for a client certificate (mutual TLS, checked at CONNECT); never required, passwords still work. */
  requestCert?: boolean;
  /** A fully handshaken socket, for the broker. */
  onSecureConnection(socket: tls.TLSSocket): void;
  failures: HandshakeFailures;
  /** How long a client may take to finish the handshake. */
  handshakeTimeoutMs: number;
  /** Pending TCP connections the kernel may hold before we accept them (a farm reconnecting at once). */
  backlog?: number;
}

export interface TlsListener {
  listen(): Promise<void>;
  close(): Promise<void>;
  /** Replaces key and certificate for new handshakes; open connections are untouched. */
  setSecureContext(context: tls.SecureContextOptions): void;
  readonly port: number | undefined;
}

export function createTlsListener(options: TlsListenerOptions): TlsListener {
  const server = tls.createServer(
    {
      ...options.context,
      minVersion: 'TLSv1.2',
      requestCert: options.requestCert ?? false,
      // A certificate that does not chain to a CA we know is not a handshake error: the device may still
      // log in with a password, and CONNECT decides on the certificate (and counts why it was refused).
      rejectUnauthorized: false,
      handshakeTimeout: options.handshakeTimeoutMs,
    },
    (socket) => options.onSecureConnection(socket),
  );
  server.on('tlsClientError', (error: Error & { code?: string }, socket: tls.TLSSocket) => {
    options.failures.record(handshakeFailureReason(error), socket.remoteAddress, error.message);
    socket.destroy();
  });
  return {
    listen: () =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        // The same backlog as the plain listener: past Node's default (511) a farm's SYNs are dropped and
        // its devices see resets and wait out TCP retransmissions (bench:farm --tls showed both).
        server.listen({ port: options.port, host: options.host, ...(options.backlog ? { backlog: options.backlog } : {}) }, () => {
          server.off('error', reject);
          resolve();
        });
      }),
    close: () => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve())),
    setSecureContext: (context) => server.setSecureContext({ ...context }),
    get port() {
      const address = server.address();
      return address && typeof address === 'object' ? address.port : undefined;
    },
  };
}
