/**
 * Device certificates at CONNECT (mutual TLS, docs/security.md "Device certificates"): a device on the
 * TLS listener that presents a client certificate and no password is judged on the certificate
 * (src/security/device-certificates.ts), with the facts read in one query by the {@link CertificateFacts}.
 * Refusals are CONNACK 5 "not authorized", counted by reason and logged. The clients logged in with a
 * certificate are remembered by fingerprint, so a revocation disconnects them at once.
 */
import tls from 'node:tls';
import type { X509Certificate } from 'node:crypto';
import type { Client } from 'aedes';
import type { Logger } from 'pino';
import { ThrottledLog } from '../../logger.ts';
import type { Metrics } from '../../metrics.ts';
import {
  CERTIFICATE_REFUSAL_REASONS,
  decideCertificateLogin,
  fingerprintOf,
  type CertificateLoginFacts,
  type CertificateRefusalReason,
} from '../../security/device-certificates.ts';

export const CERTIFICATE_REFUSALS_METRIC = 'doppel_mqtt_certificate_refusals_total';

/** Where the broker reads what it needs about one certificate CONNECT (src/services/device-certificates/). */
export interface CertificateFacts {
  loginFacts(deviceId: string, fingerprint: string): Promise<CertificateLoginFacts>;
}

export interface CertificateLogins {
  /** The client certificate of a TLS connection, undefined on plain TCP or when none was presented. */
  peerCertificate(client: Client): X509Certificate | undefined;
  /** Accepts or refuses `deviceId` on `certificate`; refusals are counted and logged here. */
  judge(client: Client, deviceId: string, certificate: X509Certificate): Promise<{ ok: true } | { ok: false; reason: CertificateRefusalReason }>;
  /** Clients that logged in with the certificate of this fingerprint, with the device each logged in as. */
  clientsWith(fingerprint: string): Array<{ client: Client; deviceId: string }>;
  /** Refusals so far, by reason. */
  refusals(): Partial<Record<CertificateRefusalReason, number>>;
}

export function createCertificateLogins(options: {
  facts: CertificateFacts;
  log: Logger;
  metrics?: Metrics | undefined;
  now?: () => number;
}): CertificateLogins {
  const { facts, log, metrics } = options;
  const now = options.now ?? Date.now;
  const throttled = new ThrottledLog(log);
  const counts: Partial<Record<CertificateRefusalReason, number>> = {};
  /** fingerprint → clients logged in with it; a client leaves the set when its socket closes. */
  const byFingerprint = new Map<string, Map<Client, string>>();
  metrics?.describe(CERTIFICATE_REFUSALS_METRIC, `MQTT CONNECTs with a client certificate refused, by reason (${CERTIFICATE_REFUSAL_REASONS.join(', ')}).`);

  function remember(client: Client, fingerprint: string, deviceId: string): void {
    let clients = byFingerprint.get(fingerprint);
    if (!clients) byFingerprint.set(fingerprint, (clients = new Map<Client, string>()));
    clients.set(client, deviceId);
    client.conn.once('close', () => {
      clients.delete(client);
      if (clients.size === 0 && byFingerprint.get(fingerprint) === clients) byFingerprint.delete(fingerprint);
    });
  }

  return {
    peerCertificate(client) {
      const socket = client.conn;
      if (!(socket instanceof tls.TLSSocket)) return undefined;
      return socket.getPeerX509Certificate();
    },
    async judge(client, deviceId, certificate) {
      const fingerprint = fingerprintOf(certificate);
      const decision = decideCertificateLogin(deviceId, certificate, await facts.loginFacts(deviceId, fingerprint), now());
      if (decision.ok) {
        remember(client, fingerprint, deviceId);
        return decision;
      }
      counts[decision.reason] = (counts[decision.reason] ?? 0) + 1;
      metrics?.inc(CERTIFICATE_REFUSALS_METRIC, { reason: decision.reason });
      const remote = 'remoteAddress' in client.conn ? client.conn.remoteAddress : undefined;
      throttled.warn(
        `cert:${decision.reason}:${deviceId}`,
        { deviceId, remote, reason: decision.reason, fingerprint },
        'MQTT connect refused: client certificate not accepted',
      );
      return decision;
    },
    clientsWith: (fingerprint) => [...(byFingerprint.get(fingerprint) ?? [])].map(([client, deviceId]) => ({ client, deviceId })),
    refusals: () => ({ ...counts }),
  };
}
