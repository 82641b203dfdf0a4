import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  createCertificateAuthority,
  certificateFacts,
  defaultServerNames,
  fingerprintOf,
  issueServerCertificate,
  normalizeNames,
  renewalReason,
} from '../../../src/security/tls/certificates.ts';

const DAY = 86_400_000;
const now = new Date('2026-12-02T12:00:00Z');

describe('renewalReason', () => {
  const facts = { notBefore: new Date(now.getTime() - DAY), notAfter: new Date(now.getTime() + 60 * DAY), names: ['localhost', '127.0.0.1'] };

  it('keeps a certificate far from its end that names exactly the wanted hosts (any order, any case)', () => {
    expect(renewalReason(facts, ['127.0.0.1', 'LOCALHOST'], now)).toBeUndefined();
  });

  it('re-issues within the renewal window, after expiry and before validity', () => {
    expect(renewalReason({ ...facts, notAfter: new Date(now.getTime() + 29 * DAY) }, facts.names, now)).toBe('expires soon');
    expect(renewalReason({ ...facts, notAfter: new Date(now.getTime() - DAY) }, facts.names, now)).toBe('expires soon');
    expect(renewalReason({ ...facts, notBefore: new Date(now.getTime() + DAY) }, facts.names, now)).toBe('not yet valid');
  });

  it('re-issues when the hostnames changed', () => {
    expect(renewalReason(facts, ['localhost'], now)).toBe('hostnames changed');
    expect(renewalReason(facts, ['localhost', '127.0.0.1', 'doppel.example.com'], now)).toBe('hostnames changed');
  });
});

describe('names', () => {
  it('defaults to loopback by name and address plus the machine, normalized', () => {
    expect(defaultServerNames('Box-1')).toEqual(['127.0.0.1', '::1', 'box-1', 'localhost']);
    expect(normalizeNames([' a ', 'A', '', 'b'])).toEqual(['a', 'b']);
  });
});

describe('issuing', () => {
  it('creates a CA and a server certificate it signs, for DNS names and IP addresses', async () => {
    const ca = await createCertificateAuthority('Test CA', now);
    const server = await issueServerCertificate(ca, ['localhost', '127.0.0.1', '::1'], now);
    const caCert = new X509Certificate(ca.certPem);
    const cert = new X509Certificate(server.certPem);
    expect(caCert.ca).toBe(true);
    expect(cert.ca).toBe(false);
    expect(cert.checkIssued(caCert) && cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    const facts = certificateFacts(server.certPem);
    expect(normalizeNames(facts.names)).toEqual(['127.0.0.1', '::1', 'localhost']);
    // What it was issued for is what a later start compares against: no re-issue at every start.
    expect(renewalReason(facts, ['localhost', '127.0.0.1', '::1'], now)).toBeUndefined();
    expect(Math.round((facts.notAfter.getTime() - now.getTime()) / DAY)).toBe(90);
  });

  it('fingerprints the DER bytes the way openssl prints them', async () => {
    const ca = await createCertificateAuthority('Test CA', now);
    const fingerprint = fingerprintOf(ca.certPem);
    expect(fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(fingerprint).toBe(new X509Certificate(ca.certPem).fingerprint256);
  });
});
