/**
 * Device certificates (mutual TLS, docs/security.md "Device certificates"): certificates registered per
 * device by fingerprint, CAs uploaded per tenant, revocations by fingerprint — all durable, every change
 * audited in the transaction that makes it. The broker reads the facts of one CONNECT in one query.
 */
export { createDeviceCertificateService } from './service.ts';
export type { CertificateAuthorityRecord, DeviceCertificateRecord, DeviceCertificateService, ParsedCaCache } from './types.ts';
