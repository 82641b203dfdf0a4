import { X509Certificate } from 'node:crypto';
import type { PrismaClient } from '../../db/client.ts';
import type { SqlExecutor } from '../../db/client.ts';
import { AlreadyExistsError, failed, NotFoundError, ValidationError } from '../../domain/errors.ts';
import { commonNameOf, fingerprintOf, normalizeFingerprint, parseCertificatePem, validateCertificateAuthority } from '../../security/device-certificates.ts';
import { auditEventData } from '../audit.ts';
import type { DeviceCertificateService } from './types.ts';

export interface DeviceCertificateServiceOptions {
  prisma: PrismaClient;
  sql: SqlExecutor;
  /** The devices connected with this certificate (the embedded broker; all of one CN, so normally one). */
  certificateHolders: (fingerprint: string) => string[];
  /** Closes the connections of `deviceId` logged in with this certificate; returns how many. */
  disconnectCertificate: (fingerprint: string, deviceId: string) => number;
  now?: () => number;
}

/** Kept small: parsed CAs are a cache of what the database holds, never the truth. */
const MAX_CACHED_CAS = 1_000;

function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: string }).code === 'P2002';
}

export function createDeviceCertificateService({
  prisma,
  sql,
  certificateHolders,
  disconnectCertificate,
  now = Date.now,
}: DeviceCertificateServiceOptions): DeviceCertificateService {
  const parsedCas = new Map<string, X509Certificate>();
  function parsedCa(pem: string): X509Certificate {
    let ca = parsedCas.get(pem);
    if (!ca) {
      if (parsedCas.size >= MAX_CACHED_CAS) parsedCas.clear();
      ca = new X509Certificate(pem);
      parsedCas.set(pem, ca);
    }
    return ca;
  }
  const badFingerprint = (fingerprint: string) =>
    failed(
      new ValidationError('invalid fingerprint', [
        {
          path: ['fingerprint'],
          code: 'INVALID_FINGERPRINT',
          message: `${JSON.stringify(fingerprint.slice(0, 100))} is not a SHA-256 fingerprint (64 hex digits, colons allowed)`,
        },
      ]),
    );

  return {
    async loginFacts(deviceId, fingerprint) {
      const [row] = await sql.query<{ tenantId: string | null; disabled: boolean | null; registered: boolean; revoked: boolean; pems: string[] | null }>(
        `SELECT d."tenantId", d."disabledAt" IS NOT NULL AS disabled,
                EXISTS (SELECT 1 FROM "DeviceCertificate" c WHERE c.fingerprint = $2 AND c."deviceId" = $1) AS registered,
                EXISTS (SELECT 1 FROM "RevokedCertificate" r WHERE r."tenantId" = d."tenantId" AND r.fingerprint = $2) AS revoked,
                (SELECT array_agg(a.pem ORDER BY a."createdAt") FROM "TenantCertificateAuthority" a WHERE a."tenantId" = d."tenantId") AS pems
           FROM (SELECT $1::text AS "deviceId") q LEFT JOIN "Device" d ON d."deviceId" = q."deviceId"`,
        [deviceId, fingerprint],
      );
      return {
        device: row?.tenantId ? { tenantId: row.tenantId, disabled: row.disabled === true } : undefined,
        registered: row?.registered === true,
        revoked: row?.revoked === true,
        tenantCas: (row?.pems ?? []).map(parsedCa),
      };
    },

    async register(actor, input) {
      const hasPem = typeof input.certificatePem === 'string' && input.certificatePem.length > 0;
      const hasFingerprint = typeof input.fingerprint === 'string' && input.fingerprint.length > 0;
      if (hasPem === hasFingerprint) {
        return failed(
          new ValidationError('give the certificate or its fingerprint', [
            { path: ['certificatePem'], code: 'ONE_OF', message: 'exactly one of certificatePem and fingerprint is required' },
          ]),
        );
      }
      let fingerprint: string;
      let notAfter: Date | null = null;
      if (hasPem) {
        const parsed = parseCertificatePem(input.certificatePem!, ['certificatePem']);
        if (!parsed.ok) return failed(new ValidationError('certificate refused', [parsed.issue]));
        const certificate = parsed.certificate;
        const issues = [];
        if (commonNameOf(certificate) !== input.deviceId) {
          issues.push({
            path: ['certificatePem'],
            code: 'CN_MISMATCH',
            message: `the certificate's CN must be the device id ${JSON.stringify(input.deviceId)}`,
          });
        }
        if (Date.parse(certificate.validTo) < now())
          issues.push({ path: ['certificatePem'], code: 'EXPIRED', message: `the certificate expired at ${certificate.validTo}` });
        if (issues.length > 0) return failed(new ValidationError('certificate refused', issues));
        fingerprint = fingerprintOf(certificate);
        notAfter = new Date(certificate.validTo);
      } else {
        const normalized = normalizeFingerprint(input.fingerprint!);
        if (!normalized) return badFingerprint(input.fingerprint!);
        fingerprint = normalized;
      }
      const device = await prisma.device.findFirst({ where: { deviceId: input.deviceId, tenantId: actor.tenantId }, select: { id: true } });
      if (!device) return failed(new NotFoundError('device', input.deviceId));
      try {
        const [certificate] = await prisma.$transaction([
          prisma.deviceCertificate.create({ data: { fingerprint, tenantId: actor.tenantId, deviceId: input.deviceId, notAfter } }),
          prisma.auditEvent.create({
            data: auditEventData({ ...actor, action: 'deviceCertificate.register', target: `device:${input.deviceId}`, details: { fingerprint } }),
            select: { id: true },
          }),
        ]);
        return { ok: true, certificate };
      } catch (error) {
        // The fingerprint is the primary key: one certificate belongs to one device, whoever registered it.
        if (isUniqueViolation(error)) return failed(new AlreadyExistsError('device certificate', fingerprint));
        throw error;
      }
    },

    async remove(actor, input) {
      const fingerprint = normalizeFingerprint(input);
      if (!fingerprint) return badFingerprint(input);
      const removed = await prisma.$transaction(async (tx) => {
        const { count } = await tx.deviceCertificate.deleteMany({ where: { fingerprint, tenantId: actor.tenantId } });
        if (count > 0) {
          await tx.auditEvent.create({
            data: auditEventData({ ...actor, action: 'deviceCertificate.remove', target: `certificate:${fingerprint}` }),
            select: { id: true },
          });
        }
        return count;
      });
      if (removed === 0) return failed(new NotFoundError('device certificate', fingerprint));
      return { ok: true, fingerprint };
    },

    async revoke(actor, input) {
      const fingerprint = normalizeFingerprint(input);
      if (!fingerprint) return badFingerprint(input);
      await prisma.$transaction([
        // Revoking twice keeps the first revocation time.
        prisma.revokedCertificate.upsert({
          where: { tenantId_fingerprint: { tenantId: actor.tenantId, fingerprint } },
          create: { fingerprint, tenantId: actor.tenantId },
          update: {},
        }),
        prisma.auditEvent.create({
          data: auditEventData({ ...actor, action: 'deviceCertificate.revoke', target: `certificate:${fingerprint}` }),
          select: { id: true },
        }),
      ]);
      // Durable first, then the connections: a device reconnecting meanwhile is refused by the row above.
      // Only the tenant's own devices: a fingerprint names a certificate, not whose it is.
      const holders = certificateHolders(fingerprint);
      if (holders.length === 0) return { ok: true, fingerprint, disconnected: 0 };
      const own = await prisma.device.findMany({ where: { tenantId: actor.tenantId, deviceId: { in: holders } }, select: { deviceId: true } });
      let disconnected = 0;
      for (const { deviceId } of own) disconnected += disconnectCertificate(fingerprint, deviceId);
      return { ok: true, fingerprint, disconnected };
    },

    async uploadAuthority(actor, input) {
      const issues = [];
      const name = input.name.trim();
      if (name.length === 0 || name.length > 100) issues.push({ path: ['name'], code: 'INVALID_NAME', message: 'name must be 1–100 characters' });
      const validated = validateCertificateAuthority(input.pem, now());
      if (!validated.ok) issues.push(...validated.error.issues);
      if (issues.length > 0 || !validated.ok) return failed(new ValidationError('certificate authority refused', issues));
      const { fingerprint, notAfter } = validated.value;
      try {
        const [authority] = await prisma.$transaction([
          prisma.tenantCertificateAuthority.create({
            data: { tenantId: actor.tenantId, name, pem: input.pem.trim(), fingerprint, notAfter },
            omit: { pem: true },
          }),
          prisma.auditEvent.create({
            data: auditEventData({ ...actor, action: 'certificateAuthority.upload', target: `certificateAuthority:${name}`, details: { fingerprint } }),
            select: { id: true },
          }),
        ]);
        return { ok: true, authority };
      } catch (error) {
        if (isUniqueViolation(error)) return failed(new AlreadyExistsError('certificate authority', name));
        throw error;
      }
    },

    async removeAuthority(actor, name) {
      const existing = await prisma.tenantCertificateAuthority.findFirst({ where: { tenantId: actor.tenantId, name }, select: { id: true, pem: true } });
      if (!existing) return failed(new NotFoundError('certificate authority', name));
      await prisma.$transaction([
        prisma.tenantCertificateAuthority.delete({ where: { id: existing.id } }),
        prisma.auditEvent.create({
          data: auditEventData({ ...actor, action: 'certificateAuthority.remove', target: `certificateAuthority:${name}` }),
          select: { id: true },
        }),
      ]);
      parsedCas.delete(existing.pem);
      return { ok: true };
    },

    listAuthorities: (tenantId) => prisma.tenantCertificateAuthority.findMany({ where: { tenantId }, omit: { pem: true }, orderBy: { createdAt: 'asc' } }),
    listForDevice: (tenantId, deviceId) => prisma.deviceCertificate.findMany({ where: { tenantId, deviceId }, orderBy: { createdAt: 'asc' } }),
  };
}
