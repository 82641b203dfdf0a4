/**
 * Where the server's TLS material comes from: certificates given by path (used as they are, never
 * generated or rotated), or Doppel's own private CA and server certificate under
 * `$DOPPEL_DATA_DIR/tls/` (directory 0700, files 0600), created on first start, reused afterwards and
 * re-issued when they near their end or the hostnames change (./certificates.ts).
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import tls from 'node:tls';
import {
  certificateFacts,
  createCertificateAuthority,
  fingerprintOf,
  issueServerCertificate,
  normalizeNames,
  renewalReason,
  type KeyPairPem,
} from './certificates.ts';

/** The key, certificate chain and trust anchor the TLS listeners serve. */
export interface ServerTlsMaterial {
  certPem: string;
  keyPem: string;
  /** The CA a client must trust: Doppel's own, or MQTT_TLS_CA when given. */
  caPem: string | undefined;
  /** Where that CA is on disk, for the start-up log and the docs. */
  caPath: string | undefined;
  /** SHA-256 fingerprint of that CA, to check on a device what file it was given. */
  caFingerprint: string | undefined;
  source: 'generated' | 'given';
  /** The server certificate's validity, logged and used for renewal. */
  notAfter: Date;
}

export interface GivenCertificatePaths {
  certPath: string;
  keyPath: string;
  caPath?: string | undefined;
}

export class TlsMaterialError extends Error {
  override name = 'TlsMaterialError';
}

export const TLS_DIR_NAME = 'tls';
const FILES = { caCert: 'ca.pem', caKey: 'ca-key.pem', cert: 'server.pem', key: 'server-key.pem' } as const;

/** Reads certificates given by path; refuses (a clear error) when unreadable, mismatched, expired or not yet valid. */
export async function loadGivenCertificates(paths: GivenCertificatePaths, now: Date): Promise<ServerTlsMaterial> {
  const read = async (variable: string, file: string) => {
    try {
      return await fs.readFile(file, 'utf8');
    } catch (error) {
      throw new TlsMaterialError(`${variable}: cannot read ${file}: ${(error as Error).message}`);
    }
  };
  const certPem = await read('MQTT_TLS_CERT', paths.certPath);
  const keyPem = await read('MQTT_TLS_KEY', paths.keyPath);
  const caPem = paths.caPath ? await read('MQTT_TLS_CA', paths.caPath) : undefined;
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (error) {
    throw new TlsMaterialError(`MQTT_TLS_CERT: ${paths.certPath} is not a PEM certificate (${(error as Error).message})`);
  }
  const { notBefore, notAfter } = certificateFacts(certPem);
  if (now < notBefore) throw new TlsMaterialError(`MQTT_TLS_CERT: ${paths.certPath} is not valid before ${notBefore.toISOString()}`);
  if (now > notAfter) throw new TlsMaterialError(`MQTT_TLS_CERT: ${paths.certPath} expired at ${notAfter.toISOString()}`);
  try {
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) throw new Error('the key does not belong to the certificate');
    // Also what the listener will do with it: a chain or key node cannot use fails here, not at the first device.
    tls.createSecureContext({ cert: certPem, key: keyPem, ...(caPem ? { ca: caPem } : {}) });
  } catch (error) {
    throw new TlsMaterialError(`MQTT_TLS_KEY: ${paths.keyPath} does not fit ${paths.certPath}: ${(error as Error).message}`);
  }
  return {
    certPem,
    keyPem,
    caPem,
    caPath: paths.caPath,
    caFingerprint: caPem ? fingerprintOf(caPem) : undefined,
    source: 'given',
    notAfter,
  };
}

/** What a call to {@link ensureGeneratedCertificates} did. */
export interface EnsureResult {
  material: ServerTlsMaterial;
  /** Set when the CA was created now (first start). */
  createdCa: boolean;
  /** Why the server certificate was (re-)issued now, undefined when the stored one was kept. */
  issued: string | undefined;
}

/**
 * Doppel's own CA and server certificate in `<dataDir>/tls`: created when missing, the server
 * certificate re-issued when {@link renewalReason} says so. Files are written to a temporary name and
 * renamed, so a crash mid-write leaves the previous pair, never half of one.
 */
export async function ensureGeneratedCertificates(dataDir: string, names: readonly string[], now: Date): Promise<EnsureResult> {
  const dir = path.join(dataDir, TLS_DIR_NAME);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  await fs.chmod(dir, 0o700);
  const file = (name: string) => path.join(dir, name);

  let ca = await readPair(file(FILES.caCert), file(FILES.caKey));
  const createdCa = !ca;
  if (!ca) {
    ca = await createCertificateAuthority('Doppel device CA', now);
    // Key before certificate: a certificate on disk always has its key.
    await writePrivate(file(FILES.caKey), ca.keyPem);
    await writePrivate(file(FILES.caCert), ca.certPem);
  }
  const wanted = normalizeNames(names);
  let server = createdCa ? undefined : await readPair(file(FILES.cert), file(FILES.key));
  let issued: string | undefined;
  if (!server) issued = 'none yet';
  else if (!signedBy(server.certPem, ca.certPem)) issued = 'not signed by the CA';
  else issued = renewalReason(certificateFacts(server.certPem), wanted, now);
  if (issued || !server) {
    server = await issueServerCertificate(ca, wanted, now);
    await writePrivate(file(FILES.key), server.keyPem);
    await writePrivate(file(FILES.cert), server.certPem);
  }
  return {
    material: {
      certPem: server.certPem,
      keyPem: server.keyPem,
      caPem: ca.certPem,
      caPath: file(FILES.caCert),
      caFingerprint: fingerprintOf(ca.certPem),
      source: 'generated',
      notAfter: certificateFacts(server.certPem).notAfter,
    },
    createdCa,
    issued,
  };
}

function signedBy(certPem: string, caPem: string): boolean {
  try {
    const cert = new X509Certificate(certPem);
    const ca = new X509Certificate(caPem);
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
  } catch {
    return false;
  }
}

async function readPair(certPath: string, keyPath: string): Promise<KeyPairPem | undefined> {
  let certPem: string;
  let keyPem: string;
  try {
    [certPem, keyPem] = await Promise.all([fs.readFile(certPath, 'utf8'), fs.readFile(keyPath, 'utf8')]);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error; // unreadable (permissions): an operator must look, we must not overwrite
  }
  try {
    // A damaged pair (truncated, foreign key) is replaced rather than served.
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem)) ? { certPem, keyPem } : undefined;
  } catch {
    return undefined;
  }
}

async function writePrivate(file: string, content: string): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  await fs.writeFile(temporary, content, { mode: 0o600 });
  await fs.rename(temporary, file);
}
