/**
 * The embedded broker's private CA and the server certificate it signs (docs/security.md, "Transport
 * encryption"): ECDSA P-256 keys from WebCrypto, X.509 by @peculiar/x509 (node:crypto parses
 * certificates but cannot issue them). The decisions — is this certificate still good for these
 * names at this time — are plain functions of their inputs, so they are tested without a clock.
 */
import { X509Certificate, createHash } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

/** How long a generated server certificate is valid, and how close to its end it is re-issued. */
export const SERVER_CERT_VALIDITY_DAYS = 90;
export const SERVER_CERT_RENEW_DAYS = 30;
/** The CA outlives many server certificates: devices pin it, so replacing it means touching every device. */
export const CA_VALIDITY_DAYS = 3650;

/** A certificate and its private key, both PEM. */
export interface KeyPairPem {
  certPem: string;
  keyPem: string;
}

/** What decides whether a server certificate may be kept. */
export interface CertificateFacts {
  notBefore: Date;
  notAfter: Date;
  /** DNS names and IP addresses of its subjectAltName, as written. */
  names: string[];
}

/** The hostnames a generated server certificate names by default: loopback by name and address, and this machine. */
export function defaultServerNames(hostname: string): string[] {
  return normalizeNames(['localhost', '127.0.0.1', '::1', hostname]);
}

/** Trimmed, lower-cased, de-duplicated and sorted, so two lists naming the same hosts compare equal. */
export function normalizeNames(names: readonly string[]): string[] {
  return [...new Set(names.map((name) => canonicalName(name.trim().toLowerCase())).filter((name) => name.length > 0))].sort();
}

/** IPv6 addresses in their shortest form (`0:0:0:0:0:0:0:1`, as node:crypto prints a SAN, is `::1`). */
function canonicalName(name: string): string {
  return isIP(name) === 6 ? new URL(`http://[${name}]/`).hostname.slice(1, -1) : name;
}

/**
 * Why a generated server certificate must be re-issued now, or undefined when it may be kept: it is
 * within `renewDays` of its end (or past it, or not yet valid), or it does not name exactly `wanted`.
 */
export function renewalReason(facts: CertificateFacts, wanted: readonly string[], now: Date, renewDays = SERVER_CERT_RENEW_DAYS): string | undefined {
  if (now.getTime() < facts.notBefore.getTime()) return 'not yet valid';
  if (facts.notAfter.getTime() - now.getTime() < renewDays * DAY_MS) return 'expires soon';
  const have = normalizeNames(facts.names);
  const want = normalizeNames(wanted);
  if (have.length !== want.length || have.some((name, i) => name !== want[i])) return 'hostnames changed';
  return undefined;
}

/** Validity and subjectAltName names of a PEM certificate. */
export function certificateFacts(certPem: string): CertificateFacts {
  const cert = new X509Certificate(certPem);
  // subjectAltName reads like "DNS:localhost, IP Address:127.0.0.1".
  const names = (cert.subjectAltName ?? '')
    .split(',')
    .map((entry) => entry.trim().replace(/^(DNS|IP Address):/, ''))
    .filter((name) => name.length > 0);
  return { notBefore: new Date(cert.validFrom), notAfter: new Date(cert.validTo), names };
}

/** SHA-256 of the certificate's DER encoding as colon-separated upper-case hex (what `openssl x509 -fingerprint -sha256` prints). */
export function fingerprintOf(cert: string | Buffer | X509Certificate): string {
  const der = cert instanceof X509Certificate ? cert.raw : typeof cert === 'string' ? new X509Certificate(cert).raw : cert;
  return formatFingerprint(createHash('sha256').update(der).digest());
}

export function formatFingerprint(digest: Buffer): string {
  return (digest.toString('hex').toUpperCase().match(/../g) ?? []).join(':');
}

function serialNumber(): string {
  // Positive (high bit clear) 16-byte serial: RFC 5280 wants them unique per CA, and random ones are.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f;
  return Buffer.from(bytes).toString('hex');
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey('pkcs8', key)).toString('base64');
  return `-----BEGIN PRIVATE KEY-----\n${(pkcs8.match(/.{1,64}/g) ?? []).join('\n')}\n-----END PRIVATE KEY-----\n`;
}

async function importKeyPem(keyPem: string): Promise<CryptoKey> {
  const der = Buffer.from(keyPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  return crypto.subtle.importKey('pkcs8', der, ALGORITHM, false, ['sign']);
}

/** A new private CA (CN `commonName`), valid from `now` for `days`. */
export async function createCertificateAuthority(commonName: string, now: Date, days = CA_VALIDITY_DAYS): Promise<KeyPairPem> {
  const keys = await crypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: `CN=${escapeDnValue(commonName)}`,
    // A minute back: a device whose clock is slightly behind still accepts a certificate issued just now.
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + days * DAY_MS),
    signingAlgorithm: ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await exportKeyPem(keys.privateKey) };
}

export interface IssueOptions {
  /** The issuing CA. */
  ca: KeyPairPem;
  /** Subject CN. */
  commonName: string;
  /** subjectAltName entries: IP addresses become IP names, the rest DNS names. Empty for a client certificate. */
  names?: readonly string[];
  notBefore: Date;
  notAfter: Date;
  usage: 'server' | 'client';
}

/** A leaf certificate signed by `ca`, with a fresh P-256 key. */
export async function issueCertificate(options: IssueOptions): Promise<KeyPairPem> {
  const caCert = new x509.X509Certificate(options.ca.certPem);
  const caKey = await importKeyPem(options.ca.keyPem);
  const keys = await crypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
  const names = options.names ?? [];
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
    new x509.ExtendedKeyUsageExtension([options.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
    await x509.AuthorityKeyIdentifierExtension.create(caCert),
  ];
  if (names.length > 0) {
    extensions.push(new x509.SubjectAlternativeNameExtension(names.map((value) => ({ type: isIP(value) ? ('ip' as const) : ('dns' as const), value }))));
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: `CN=${escapeDnValue(options.commonName)}`,
    issuer: caCert.subject,
    notBefore: options.notBefore,
    notAfter: options.notAfter,
    signingAlgorithm: ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions,
  });
  return { certPem: cert.toString('pem'), keyPem: await exportKeyPem(keys.privateKey) };
}

/** A server certificate for `names`, valid from a minute ago for `days`. */
export function issueServerCertificate(ca: KeyPairPem, names: readonly string[], now: Date, days = SERVER_CERT_VALIDITY_DAYS): Promise<KeyPairPem> {
  return issueCertificate({
    ca,
    commonName: names[0] ?? 'localhost',
    names,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + days * DAY_MS),
    usage: 'server',
  });
}

/** RFC 4514 escaping of one attribute value, so a hostname or device id cannot add attributes. */
function escapeDnValue(value: string): string {
  return value.replace(/[,+"\\<>;=]/g, (c) => `\\${c}`).replace(/^[ #]|[ ]$/g, (c) => `\\${c}`);
}
