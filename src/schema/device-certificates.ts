// Device certificates and tenant CAs (mutual TLS, docs/security.md "Device certificates"): admin only,
// tenant-scoped through the caller's token, every change audited by the service.
import { builder } from '../builder.ts';
import { actorOf } from '../domain/principal.ts';
import { AlreadyExistsError, NotFoundError, ValidationError } from '../domain/errors.ts';
import type { CertificateAuthorityRecord, DeviceCertificateRecord } from '../services/device-certificates/index.ts';
import { requireRole } from './auth.ts';

const DeviceCertificateRef = builder.objectRef<DeviceCertificateRecord>('DeviceCertificate').implement({
  description: 'A client certificate registered for a device: the device logs in over MQTT-over-TLS with it and no password.',
  fields: (t) => ({
    fingerprint: t.exposeString('fingerprint', { description: 'SHA-256 of the certificate DER, lowercase hex.' }),
    deviceId: t.exposeString('deviceId'),
    notAfter: t.expose('notAfter', { type: 'DateTime', nullable: true, description: 'Known when registered as PEM.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const CertificateAuthorityRef = builder.objectRef<CertificateAuthorityRecord>('TenantCertificateAuthority').implement({
  description: "A CA of the tenant: any of the tenant's devices whose client certificate it signed (CN = device id) logs in with it.",
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    fingerprint: t.exposeString('fingerprint', { description: 'SHA-256 of the CA certificate DER, lowercase hex.' }),
    notAfter: t.expose('notAfter', { type: 'DateTime' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const RevokedCertificateRef = builder.objectRef<{ fingerprint: string; disconnected: number }>('RevokedDeviceCertificate').implement({
  fields: (t) => ({
    fingerprint: t.exposeString('fingerprint'),
    disconnected: t.exposeInt('disconnected', { description: 'Connections that were using it and were closed at once.' }),
  }),
});

const RemovedDeviceCertificateRef = builder.objectRef<{ fingerprint: string }>('RemovedDeviceCertificate').implement({
  fields: (t) => ({ fingerprint: t.exposeString('fingerprint') }),
});

const RemovedCertificateAuthorityRef = builder.objectRef<{ name: string }>('RemovedTenantCertificateAuthority').implement({
  fields: (t) => ({ name: t.exposeString('name') }),
});

builder.queryFields((t) => ({
  tenantCertificateAuthorities: t.field({
    ...requireRole('admin'),
    type: [CertificateAuthorityRef],
    description: "The CAs uploaded for the caller's tenant.",
    resolve: (_root, _args, ctx) => ctx.deviceCertificates.listAuthorities(ctx.principal.tenantId),
  }),
  deviceCertificates: t.field({
    ...requireRole('admin'),
    type: [DeviceCertificateRef],
    description: 'The certificates registered for a device of the tenant.',
    args: { deviceId: t.arg.string({ required: true }) },
    resolve: (_root, { deviceId }, ctx) => ctx.deviceCertificates.listForDevice(ctx.principal.tenantId, deviceId),
  }),
}));

builder.mutationFields((t) => ({
  registerDeviceCertificate: t.field({
    ...requireRole('admin'),
    type: DeviceCertificateRef,
    description:
      'Lets a device log in with a client certificate: give the PEM (its CN must be the device id) or its SHA-256 fingerprint. Audited as deviceCertificate.register.',
    errors: { types: [ValidationError, NotFoundError, AlreadyExistsError] },
    args: { deviceId: t.arg.string({ required: true }), certificatePem: t.arg.string(), fingerprint: t.arg.string() },
    resolve: async (_root, args, ctx) => {
      const outcome = await ctx.deviceCertificates.register(actorOf(ctx.principal), args);
      if (!outcome.ok) throw outcome.error;
      return outcome.certificate;
    },
  }),
  removeDeviceCertificate: t.field({
    ...requireRole('admin'),
    type: RemovedDeviceCertificateRef,
    description: 'Removes a registration (connected devices stay connected; use revokeDeviceCertificate to shut one out). Audited as deviceCertificate.remove.',
    errors: { types: [ValidationError, NotFoundError] },
    args: { fingerprint: t.arg.string({ required: true }) },
    resolve: async (_root, { fingerprint }, ctx) => {
      const outcome = await ctx.deviceCertificates.remove(actorOf(ctx.principal), fingerprint);
      if (!outcome.ok) throw outcome.error;
      return { fingerprint: outcome.fingerprint };
    },
  }),
  revokeDeviceCertificate: t.field({
    ...requireRole('admin'),
    type: RevokedCertificateRef,
    description:
      'Refuses the certificate for good, whoever registered or signed it, and disconnects devices using it at once. Audited as deviceCertificate.revoke.',
    errors: { types: [ValidationError] },
    args: { fingerprint: t.arg.string({ required: true }) },
    resolve: async (_root, { fingerprint }, ctx) => {
      const outcome = await ctx.deviceCertificates.revoke(actorOf(ctx.principal), fingerprint);
      if (!outcome.ok) throw outcome.error;
      return { fingerprint: outcome.fingerprint, disconnected: outcome.disconnected };
    },
  }),
  uploadTenantCertificateAuthority: t.field({
    ...requireRole('admin'),
    type: CertificateAuthorityRef,
    description: "Adds a CA to the caller's tenant: a PEM certificate with basicConstraints cA=true, valid now. Audited as certificateAuthority.upload.",
    errors: { types: [ValidationError, AlreadyExistsError] },
    args: { name: t.arg.string({ required: true }), pem: t.arg.string({ required: true }) },
    resolve: async (_root, args, ctx) => {
      const outcome = await ctx.deviceCertificates.uploadAuthority(actorOf(ctx.principal), args);
      if (!outcome.ok) throw outcome.error;
      return outcome.authority;
    },
  }),
  removeTenantCertificateAuthority: t.field({
    ...requireRole('admin'),
    type: RemovedCertificateAuthorityRef,
    description: 'Removes a CA of the tenant: certificates it signed stop working at the next CONNECT. Audited as certificateAuthority.remove.',
    errors: { types: [NotFoundError] },
    args: { name: t.arg.string({ required: true }) },
    resolve: async (_root, { name }, ctx) => {
      const outcome = await ctx.deviceCertificates.removeAuthority(actorOf(ctx.principal), name);
      if (!outcome.ok) throw outcome.error;
      return { name };
    },
  }),
}));
