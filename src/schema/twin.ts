import { builder } from '../builder.ts';
import { metadataTree, type SectionMeta } from '../domain/twin.ts';
import type { TwinChangedEvent } from '../events/bus.ts';
import { actorOf } from '../domain/principal.ts';
import { requireRole } from './auth.ts';
import { deviceReaderOf } from './readers.ts';
import { DoppelError, NotFoundError, ValidationError, VersionConflictError } from '../domain/errors.ts';
import { ResyncRequiredError } from '../domain/twin-changed-replay.ts';
import { createGraphQLError } from 'graphql-yoga';

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
    description:
      'Every accepted twin change. Omit deviceId for every device you may see. With sinceVersion (and deviceId), first every logged change after that version, oldest first, then the live ones: no gap, no duplicate. When the log no longer holds them (retention) or the twin is behind sinceVersion, the subscription fails with extensions.code RESYNC_REQUIRED and extensions.currentVersion: read the twin and subscribe again from its version (docs/twins.md).',
    args: {
      deviceId: t.arg.string({ required: false }),
      sinceVersion: t.arg.int({
        required: false,
        description: 'Resume after this version (the last one you saw); needs deviceId. 0 replays the whole history.',
      }),
    },
    subscribe: (_root, { deviceId, sinceVersion }, ctx) =>
      sinceVersion == null
        ? // Filtered before queueing: a subscriber only ever buffers events it will receive.
          ctx.bus.subscribe('twinChanged', (e) => e.tenantId === ctx.principal.tenantId && (deviceId == null || e.deviceId === deviceId))
        : withGraphQLFailures(ctx.twinReplay.resume(ctx.principal.tenantId, deviceId, sinceVersion)),
    resolve: (event) => event,
  }),
}));

/**
 * A resumed stream's failures as the GraphQL errors a graphql-ws client receives in its `error` message:
 * RESYNC_REQUIRED carries what the client needs to start again (the twin's current version).
 */
function withGraphQLFailures<T>(source: AsyncIterableIterator<T>): AsyncIterableIterator<T> {
  const mapError = (error: unknown): never => {
    if (error instanceof ResyncRequiredError) {
      const { code, deviceId, sinceVersion, currentVersion, oldestVersion, reason } = error;
      throw createGraphQLError(error.message, { extensions: { code, deviceId, sinceVersion, currentVersion, oldestVersion, reason } });
    }
    if (error instanceof ValidationError) throw createGraphQLError(error.message, { extensions: { code: 'BAD_USER_INPUT' } });
    // NOT_FOUND, and SLOW_CONSUMER once live: errors thrown by the stream are masked unless they are GraphQL errors.
    if (error instanceof DoppelError) throw createGraphQLError(error.message, { extensions: { code: error.code } });
    throw error;
  };
  return {
    next: () => source.next().catch(mapError),
    return: () => (source.return ? source.return() : Promise.resolve({ value: undefined, done: true })),
    throw: (error: unknown) => (source.throw ? source.throw(error) : Promise.reject(error)),
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
