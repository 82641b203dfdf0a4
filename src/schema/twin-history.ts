/**
 * `Device.twinHistory`: the twin's change log (the TwinChange rows every accepted change writes in the
 * same statement as the twin), oldest first, as the same `TwinChange` objects `twinChanged` delivers,
 * so a client can read what it missed and then follow live with one code path. Reads the primary
 * table: a read right after an accepted change sees it.
 */
import { createGraphQLError } from 'graphql-yoga';
import { builder } from '../builder.ts';
import type { TwinChangedEvent } from '../events/bus.ts';
import type { JsonObject } from '../domain/twin.ts';
import { TwinChangeRef, TwinSectionEnum } from './twin.ts';

const MAX_PAGE = 500;

builder.prismaObjectFields('Device', (t) => ({
  twinHistory: t.connection(
    {
      type: TwinChangeRef,
      description: `Accepted changes of this twin, oldest first: versions ≥ fromVersion (default: all), of one section or both. Pages of at most ${MAX_PAGE} (default 100), forward with first/after.`,
      args: {
        fromVersion: t.arg.int({ required: false }),
        section: t.arg({ type: TwinSectionEnum, required: false }),
      },
      resolve: async (device, args, ctx) => {
        if (args.last != null || args.before != null) throw badInput('twinHistory pages forward only: use first and after');
        const size = args.first ?? 100;
        if (size < 0 || size > MAX_PAGE) throw badInput(`first must be between 0 and ${MAX_PAGE}`);
        let afterId: bigint | undefined;
        if (args.after != null) {
          if (!/^\d{1,19}$/.test(args.after)) throw badInput('after is not a cursor of this connection');
          afterId = BigInt(args.after);
        }
        const rows = await ctx.prisma.twinChange.findMany({
          where: {
            deviceId: device.id,
            ...(args.fromVersion != null ? { version: { gte: args.fromVersion } } : {}),
            ...(args.section ? { section: args.section } : {}),
            ...(afterId !== undefined ? { id: { gt: afterId } } : {}),
          },
          orderBy: { id: 'asc' },
          take: size + 1,
        });
        const edges = rows.slice(0, size).map((row) => ({
          cursor: row.id.toString(),
          node: {
            deviceUuid: device.id,
            deviceId: device.deviceId,
            tenantId: device.tenantId,
            version: row.version,
            section: row.section as TwinChangedEvent['section'],
            patch: row.patch as JsonObject,
            source: row.source as TwinChangedEvent['source'],
            actor: row.actor,
            at: row.createdAt.getTime(),
          } satisfies TwinChangedEvent,
        }));
        return {
          edges,
          pageInfo: { hasNextPage: rows.length > size, hasPreviousPage: false, startCursor: edges[0]?.cursor ?? null, endCursor: edges.at(-1)?.cursor ?? null },
        };
      },
    },
    { name: 'TwinHistoryConnection' },
    { name: 'TwinHistoryEdge' },
  ),
}));

function badInput(message: string): Error {
  return createGraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });
}
