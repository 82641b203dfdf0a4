import { X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  commonNameOf,
  decideCertificateLogin,
  fingerprintOf,
  normalizeFingerprint,
  validateCertificateAuthority,
  type CertificateLoginFacts,
} from '../../src/security/device-certificates.ts';
import { createCertificateAuthority, issueCertificate, type KeyPairPem } from '../../src/security/tls/certificates.ts';

const DAY = 86_400_000;
const NOW = Date.now();
let ca: KeyPairPem;
let cert: X509Certificate;
let caCert: X509Certificate;

beforeAll(async () => {
  ca = await createCertificateAuthority('Acme', new Date(NOW));
  caCert = new X509Certificate(ca.certPem);
  const leaf = await issueCertificate({ ca, commonName: 'dev-1', notBefore: new Date(NOW - DAY), notAfter: new Date(NOW + DAY), usage: 'client' });
  cert = new X509Certificate(leaf.certPem);
});

const facts = (over: Partial<CertificateLoginFacts> = {}): CertificateLoginFacts => ({
  device: { tenantId: 'default', disabled: false },
  registered: false,
  revoked: false,
  tenantCas: [],
  ...over,
});

describe('device certificate decisions', () => {
  it('reads the CN and the fingerprint as stored', () => {
    expect(commonNameOf(cert)).toBe('dev-1');
    expect(fingerprintOf(cert)).toMatch(/^[0-9a-f]{64}$/);
    expect(normalizeFingerprint(fingerprintOf(cert).toUpperCase().match(/../g)!.join(':'))).toBe(fingerprintOf(cert));
    expect(normalizeFingerprint('abc')).toBeUndefined();
  });

  it('accepts registered or tenant-CA-signed certificates, and refuses by reason otherwise', async () => {
    expect(decideCertificateLogin('dev-1', cert, facts({ registered: true }), NOW)).toEqual({ ok: true });
    expect(decideCertificateLogin('dev-1', cert, facts({ tenantCas: [caCert] }), NOW)).toEqual({ ok: true });
    expect(decideCertificateLogin('dev-2', cert, facts({ registered: true }), NOW)).toEqual({ ok: false, reason: 'cn_mismatch' });
    expect(decideCertificateLogin('dev-1', cert, facts({ registered: true }), NOW + 2 * DAY)).toEqual({ ok: false, reason: 'expired' });
    expect(decideCertificateLogin('dev-1', cert, facts({ registered: true, revoked: true }), NOW)).toEqual({ ok: false, reason: 'revoked' });
    expect(decideCertificateLogin('dev-1', cert, facts({ device: undefined, registered: true }), NOW)).toEqual({ ok: false, reason: 'unknown_fingerprint' });
    expect(decideCertificateLogin('dev-1', cert, facts({ device: { tenantId: 'default', disabled: true }, registered: true }), NOW)).toEqual({
      ok: false,
      reason: 'disabled_device',
    });
    expect(decideCertificateLogin('dev-1', cert, facts(), NOW)).toEqual({ ok: false, reason: 'unknown_fingerprint' });
    const other = new X509Certificate((await createCertificateAuthority('Acme', new Date(NOW))).certPem);
    expect(decideCertificateLogin('dev-1', cert, facts({ tenantCas: [other] }), NOW)).toEqual({ ok: false, reason: 'wrong_ca' });
  });

  it('validates a CA upload: parses, is a CA, is valid now', () => {
    expect(validateCertificateAuthority(ca.certPem, NOW).ok).toBe(true);
    const codes = (pem: string, now = NOW) => {
      const result = validateCertificateAuthority(pem, now);
      return result.ok ? [] : result.error.issues.map((issue) => issue.code);
    };
    expect(codes(cert.toString())).toEqual(['NOT_A_CA']);
    expect(codes(ca.certPem, NOW + 4000 * DAY)).toEqual(['NOT_VALID_NOW']);
    expect(codes('garbage')).toEqual(['NOT_A_CERTIFICATE']);
    expect(codes('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----')).toEqual(['NOT_A_CERTIFICATE']);
  });
});
