/** The device certificate service's shapes (./index.ts documents the service). */
import type { X509Certificate } from 'node:crypto';
import type { Actor } from '../../domain/principal.ts';
import type { AlreadyExistsError, Failed, NotFoundError, ValidationError } from '../../domain/errors.ts';
import type { CertificateLoginFacts } from '../../security/device-certificates.ts';

export interface DeviceCertificateRecord {
  fingerprint: string;
  tenantId: string;
  deviceId: string;
  notAfter: Date | null;
  createdAt: Date;
}

export interface CertificateAuthorityRecord {
  id: string;
  tenantId: string;
  name: string;
  fingerprint: string;
  notAfter: Date;
  createdAt: Date;
}

export interface DeviceCertificateService {
  /**
   * For the broker, one query: the device (tenant, disabled), whether `fingerprint` is registered for it
   * or revoked, and its tenant's CAs (parsed once per CA and kept).
   */
  loginFacts(deviceId: string, fingerprint: string): Promise<CertificateLoginFacts>;
  /** Registers a certificate (PEM: CN must be the device id, not expired) or a bare fingerprint for a device of the actor's tenant. */
  register(
    actor: Actor,
    input: { deviceId: string; certificatePem?: string | null; fingerprint?: string | null },
  ): Promise<{ ok: true; certificate: DeviceCertificateRecord } | Failed<ValidationError | NotFoundError | AlreadyExistsError>>;
  /** Removes a registration of the actor's tenant (a revocation stays). */
  remove(actor: Actor, fingerprint: string): Promise<{ ok: true; fingerprint: string } | Failed<ValidationError | NotFoundError>>;
  /** Revokes a fingerprint for good and disconnects, at once, every client logged in with it. */
  revoke(actor: Actor, fingerprint: string): Promise<{ ok: true; fingerprint: string; disconnected: number } | Failed<ValidationError>>;
  /** Uploads a tenant CA: it parses, is a CA, is valid now. */
  uploadAuthority(
    actor: Actor,
    input: { name: string; pem: string },
  ): Promise<{ ok: true; authority: CertificateAuthorityRecord } | Failed<ValidationError | AlreadyExistsError>>;
  removeAuthority(actor: Actor, name: string): Promise<{ ok: true } | Failed<NotFoundError>>;
  listAuthorities(tenantId: string): Promise<CertificateAuthorityRecord[]>;
  listForDevice(tenantId: string, deviceId: string): Promise<DeviceCertificateRecord[]>;
}

/** Parsed CAs by PEM, so a CONNECT does not parse the tenant's CAs again. */
export type ParsedCaCache = Map<string, X509Certificate>;
