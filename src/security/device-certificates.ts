/**
 * Device certificates (mutual TLS, docs/security.md "Device certificates"): the pure decisions. A client
 * certificate logs a device in without a password when its CN is the device id, it is within its
 * validity, its fingerprint is not revoked, and it is either registered for that device or signed by a
 * CA uploaded for the device's tenant. The broker edge (src/mqtt/embedded/authentication.ts) feeds the
 * facts in; the service (src/services/device-certificates/) reads them in one query.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { ValidationError, type FieldIssue } from '../domain/errors.ts';

/** Why a certificate CONNECT was refused: the `reason` label of doppel_mqtt_certificate_refusals_total. */
export const CERTIFICATE_REFUSAL_REASONS = ['cn_mismatch', 'unknown_fingerprint', 'revoked', 'expired', 'wrong_ca', 'disabled_device'] as const;
export type CertificateRefusalReason = (typeof CERTIFICATE_REFUSAL_REASONS)[number];

/** SHA-256 of the certificate's DER, lowercase hex without separators (the form stored and accepted). */
export function fingerprintOf(certificate: X509Certificate): string {
  return createHash('sha256').update(certificate.raw).digest('hex');
}

/** A fingerprint as an operator may paste it (`AB:CD:…` from openssl, or plain hex) in the stored form; undefined when it is none. */
export function normalizeFingerprint(input: string): string | undefined {
  const hex = input.trim().replaceAll(':', '').toLowerCase();
  return /^[0-9a-f]{64}$/.test(hex) ? hex : undefined;
}

/** The subject's common name; undefined without exactly one. */
export function commonNameOf(certificate: X509Certificate): string | undefined {
  // node:crypto prints the subject one attribute per line ("CN=dev-1\nO=Acme").
  const names = certificate.subject
    .split('\n')
    .filter((line) => line.startsWith('CN='))
    .map((line) => line.slice(3));
  return names.length === 1 ? names[0] : undefined;
}

/** Within notBefore..notAfter at `now` (epoch ms). */
export function isWithinValidity(certificate: X509Certificate, now: number): boolean {
  return Date.parse(certificate.validFrom) <= now && now <= Date.parse(certificate.validTo);
}

/** What the database knows about a device and a presented certificate (one query, see the service). */
export interface CertificateLoginFacts {
  /** Undefined: no such device. */
  device: { tenantId: string; disabled: boolean } | undefined;
  /** The certificate's fingerprint is registered for this device. */
  registered: boolean;
  revoked: boolean;
  /** The CAs uploaded for the device's tenant. */
  tenantCas: readonly X509Certificate[];
}

export type CertificateLoginDecision = { ok: true } | { ok: false; reason: CertificateRefusalReason };

/**
 * Decides a password-less CONNECT of `deviceId` presenting `certificate`. The order matters for what is
 * counted: a certificate for another device is a CN mismatch whatever else holds; revocation beats
 * registration; an unknown device reads as an unknown fingerprint (nothing about it is revealed).
 */
export function decideCertificateLogin(deviceId: string, certificate: X509Certificate, facts: CertificateLoginFacts, now: number): CertificateLoginDecision {
  if (commonNameOf(certificate) !== deviceId) return { ok: false, reason: 'cn_mismatch' };
  if (!isWithinValidity(certificate, now)) return { ok: false, reason: 'expired' };
  if (facts.revoked) return { ok: false, reason: 'revoked' };
  if (!facts.device) return { ok: false, reason: 'unknown_fingerprint' };
  if (facts.device.disabled) return { ok: false, reason: 'disabled_device' };
  if (facts.registered) return { ok: true };
  if (facts.tenantCas.length === 0) return { ok: false, reason: 'unknown_fingerprint' };
  const signed = facts.tenantCas.some((ca) => isWithinValidity(ca, now) && certificate.checkIssued(ca) && certificate.verify(ca.publicKey));
  return signed ? { ok: true } : { ok: false, reason: 'wrong_ca' };
}

/** A parsed certificate, or the issue that says why `pem` is none. */
export function parseCertificatePem(pem: string, path: string[]): { ok: true; certificate: X509Certificate } | { ok: false; issue: FieldIssue } {
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    return { ok: false, issue: { path, code: 'NOT_A_CERTIFICATE', message: 'not a PEM certificate (expected -----BEGIN CERTIFICATE-----)' } };
  }
  try {
    return { ok: true, certificate: new X509Certificate(pem) };
  } catch (error) {
    return { ok: false, issue: { path, code: 'NOT_A_CERTIFICATE', message: `the PEM does not parse as an X.509 certificate: ${(error as Error).message}` } };
  }
}

export interface ValidCertificateAuthority {
  certificate: X509Certificate;
  fingerprint: string;
  notAfter: Date;
}

/** A tenant CA upload: it parses, is a CA (basicConstraints cA=true) and is within its validity at `now`. */
export function validateCertificateAuthority(pem: string, now: number): { ok: true; value: ValidCertificateAuthority } | { ok: false; error: ValidationError } {
  const parsed = parseCertificatePem(pem, ['pem']);
  if (!parsed.ok) return { ok: false, error: new ValidationError('certificate authority refused', [parsed.issue]) };
  const certificate = parsed.certificate;
  const issues: FieldIssue[] = [];
  if (!certificate.ca) issues.push({ path: ['pem'], code: 'NOT_A_CA', message: 'the certificate is not a CA (basicConstraints cA=true is missing)' });
  if (!isWithinValidity(certificate, now)) {
    issues.push({ path: ['pem'], code: 'NOT_VALID_NOW', message: `the certificate is valid from ${certificate.validFrom} to ${certificate.validTo}, not now` });
  }
  if (issues.length > 0) return { ok: false, error: new ValidationError('certificate authority refused', issues) };
  return { ok: true, value: { certificate, fingerprint: fingerprintOf(certificate), notAfter: new Date(certificate.validTo) } };
}
