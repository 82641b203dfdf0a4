import { builder } from '../builder.ts';
import { metadataTree, type SectionMeta } from '../domain/twin.ts';
import type { TwinChangedEvent } from '../events/bus.ts';
import { actorOf } from '../domain/principal.ts';
import { requireRole } from './auth.ts';
import { deviceReaderOf } from './readers.ts';
import { NotFoundError, ValidationError, VersionConflictError } from '../domain/errors.ts';

export const TwinRef = builder.prismaObject('Twin', {
  description: 'The digital twin of a device: what it reported, what is desired, and the difference.',
  fields: (t) => ({
    version: t.exposeInt('version', { description: 'Rises by one with every accepted change.' }),
    reported: t.expose('reported', { type: 'JSON', description: 'Last state reported by the device.' }),
    desired: t.expose('desired', { type: 'JSON', description: 'State the device should reach.' }),
    delta: t.expose('delta', { type: 'JSON', description: 'Desired leaves that differ from reported.' }),
    metadata: t.field({
      type: 'JSON',
      description: 'Per-leaf metadata {ts} (epoch ms) shaped like reported and desired.',
      // Twins read through Prisma carry their metadata; those of the device reader (the hot reads, see
      // src/services/device-reads.ts) leave it out and load it here, one statement for all the twins of a request.
      resolve: async (twin, _args, ctx) => {
        const meta = twin.reportedMeta !== undefined ? twin : await deviceReaderOf(ctx).twinMetadata(ctx.principal.tenantId, twin.deviceId);
        if (!meta) throw new Error(`the twin of device ${twin.deviceId} is gone`);
        return {
          reported: metadataTree(meta.reportedMeta as unknown as SectionMeta),
          desired: metadataTree(meta.desiredMeta as unknown as SectionMeta),
        };
      },
    }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

const UpdateDesiredPayload = builder.objectRef<{ deviceUuid: string; changed: boolean; version: number }>('UpdateDesiredPayload').implement({
  fields: (t) => ({
    changed: t.exposeBoolean('changed', { description: 'False when the patch changed nothing (version unchanged).' }),
    version: t.exposeInt('version'),
    twin: t.prismaField({
      type: 'Twin',
      resolve: (query, p, _args, ctx) => ctx.prisma.twin.findUniqueOrThrow({ ...query, where: { deviceId: p.deviceUuid } }),
    }),
  }),
});

builder.mutationFields((t) => ({
  updateDesired: t.field({
    ...requireRole('operator'),
    type: UpdateDesiredPayload,
    description:
      'Merges a JSON merge patch (RFC 7386; null deletes) into the desired state. With ifVersion, fails with VersionConflict unless the twin is at that version.',
    errors: { types: [ValidationError, VersionConflictError, NotFoundError] },
    args: {
      deviceId: t.arg.string({ required: true }),
      patch: t.arg({ type: 'JSON', required: true }),
      ifVersion: t.arg.int({ required: false }),
    },
    resolve: async (_root, { deviceId, patch, ifVersion }, ctx) => {
      const outcome = await ctx.twins.updateDesired(actorOf(ctx.principal), { deviceId, patch, ifVersion });
      if (!outcome.ok) throw outcome.error;
      return { deviceUuid: outcome.deviceUuid, changed: outcome.changed, version: outcome.version };
    },
  }),
}));

export const TwinSectionEnum = builder.enumType('TwinSection', { values: ['reported', 'desired'] as const });
const ChangeSourceEnum = builder.enumType('ChangeSource', { values: ['device', 'api'] as const });

export const TwinChangeRef = builder.objectRef<TwinChangedEvent>('TwinChange').implement({
  description: 'One accepted change of a twin.',
  fields: (t) => ({
    deviceId: t.exposeString('deviceId'),
    version: t.exposeInt('version'),
    section: t.field({ type: TwinSectionEnum, resolve: (e) => e.section }),
    patch: t.field({ type: 'JSON', description: 'What changed, as a merge patch.', resolve: (e) => e.patch }),
    source: t.field({ type: ChangeSourceEnum, resolve: (e) => e.source }),
    actor: t.exposeString('actor', { nullable: true }),
    at: t.field({ type: 'DateTime', resolve: (e) => new Date(e.at) }),
    twin: t.prismaField({
      type: 'Twin',
      nullable: true,
      description: 'The twin as it is when this event is delivered (may be newer than `version`).',
      resolve: (query, e, _args, ctx) => ctx.prisma.twin.findUnique({ ...query, where: { deviceId: e.deviceUuid } }),
    }),
  }),
});

builder.subscriptionFields((t) => ({
  twinChanged: t.field({
    ...requireRole('viewer'),
    type: TwinChangeRef,
    description: 'Every accepted twin change. Omit deviceId for every device you may see.',
    args: { deviceId: t.arg.string({ required: false }) },
    // Filtered before queueing: a subscriber only ever buffers events it will receive.
    subscribe: (_root, { deviceId }, ctx) =>
      ctx.bus.subscribe('twinChanged', (e) => e.tenantId === ctx.principal.tenantId && (deviceId == null || e.deviceId === deviceId)),
    resolve: (event) => event,
  }),
}));
