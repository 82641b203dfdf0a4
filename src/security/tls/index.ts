/**
 * The server's TLS material for the MQTT TLS listener and HTTPS (docs/security.md, "Transport
 * encryption"): loaded or created at start, then checked daily; a re-issued server certificate is
 * handed to every listener that asked (`onRenewed`), which swaps its secure context in place, so
 * connected devices stay connected and only new handshakes see the new certificate.
 */
import type { Logger } from 'pino';
import { periodic } from '../../periodic.ts';
import { ensureGeneratedCertificates, loadGivenCertificates, type GivenCertificatePaths, type ServerTlsMaterial } from './store.ts';

export { TlsMaterialError, type ServerTlsMaterial } from './store.ts';
export { fingerprintOf } from './certificates.ts';

export interface ServerTlsOptions {
  /** `$DOPPEL_DATA_DIR`: generated material lives in its `tls/` directory. */
  dataDir: string;
  /** subjectAltName names of a generated server certificate. */
  hostnames: readonly string[];
  /** Certificates given by path: used as they are, never generated or rotated. */
  given?: GivenCertificatePaths | undefined;
  logger: Logger;
  /** How often a generated certificate is checked for renewal. Default one day. */
  checkIntervalMs?: number;
  /** Clock (tests). */
  now?: () => Date;
}

export interface ServerTls {
  /** Loads or creates the material and logs the CA path and fingerprint; rejects with a TlsMaterialError on bad given files. */
  start(): Promise<ServerTlsMaterial>;
  /** The material in use; throws before start(). */
  current(): ServerTlsMaterial;
  /** Calls `listener` with the new material after every re-issue. */
  onRenewed(listener: (material: ServerTlsMaterial) => void): void;
  /** Checks now (the daily job does the same); resolves true when the certificate was re-issued. */
  checkRenewal(): Promise<boolean>;
  stop(): Promise<void>;
}

const DAY_MS = 86_400_000;

export function createServerTls(options: ServerTlsOptions): ServerTls {
  const { logger } = options;
  const now = options.now ?? (() => new Date());
  const listeners: Array<(material: ServerTlsMaterial) => void> = [];
  let material: ServerTlsMaterial | undefined;
  let loading: Promise<ServerTlsMaterial> | undefined;
  const job = periodic({
    intervalMs: options.checkIntervalMs ?? DAY_MS,
    run: () => checkRenewal(),
    onError: (error) => logger.error({ err: error }, 'TLS server certificate renewal failed; the current certificate stays in use'),
  });

  async function checkRenewal(): Promise<boolean> {
    if (options.given || !material) return false;
    const result = await ensureGeneratedCertificates(options.dataDir, options.hostnames, now());
    if (!result.issued) return false;
    material = result.material;
    logger.info({ reason: result.issued, notAfter: material.notAfter.toISOString() }, 'TLS server certificate re-issued');
    for (const listener of listeners) listener(material);
    return true;
  }

  return {
    start() {
      loading ??= (async () => {
        if (options.given) {
          material = await loadGivenCertificates(options.given, now());
          logger.info(
            { cert: options.given.certPath, ca: material.caPath, caFingerprint: material.caFingerprint, notAfter: material.notAfter.toISOString() },
            'TLS: using the certificates given by path (not rotated by Doppel)',
          );
          return material;
        }
        const result = await ensureGeneratedCertificates(options.dataDir, options.hostnames, now());
        material = result.material;
        logger.info(
          {
            ca: material.caPath,
            caFingerprint: material.caFingerprint,
            hostnames: options.hostnames,
            notAfter: material.notAfter.toISOString(),
            ...(result.createdCa ? { created: true } : {}),
          },
          result.createdCa
            ? 'TLS: created a private CA; devices must trust this file (check the SHA-256 fingerprint)'
            : 'TLS: devices must trust this CA (check the SHA-256 fingerprint)',
        );
        job.start();
        return material;
      })();
      return loading;
    },
    current() {
      if (!material) throw new Error('TLS material requested before start()');
      return material;
    },
    onRenewed(listener) {
      listeners.push(listener);
    },
    checkRenewal,
    stop: () => job.stop(),
  };
}
