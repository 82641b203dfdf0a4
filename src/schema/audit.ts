import { createGraphQLError } from 'graphql-yoga';
import { builder } from '../builder.ts';
import { requireRole } from './auth.ts';

interface AuditEventShape {
  id: bigint;
  actor: string;
  actorName: string | null;
  action: string;
  target: string;
  details: unknown;
  createdAt: Date;
}

const AuditEventRef = builder.objectRef<AuditEventShape>('AuditEvent').implement({
  description: 'One security-relevant action taken through the API or the CLI.',
  fields: (t) => ({
    id: t.id({ resolve: (e) => e.id.toString() }),
    actor: t.exposeString('actor', { description: '"token:<id>", "device:<deviceId>" or "system".' }),
    actorName: t.exposeString('actorName', { nullable: true, description: 'The token name at the time (or the system part that acted).' }),
    action: t.exposeString('action', {
      description: 'e.g. apiToken.create, apiToken.revoke, device.register, device.delete, device.rotateCredentials, twin.updateDesired.',
    }),
    target: t.exposeString('target', { description: 'e.g. "device:<deviceId>", "apiToken:<id>".' }),
    details: t.field({ type: 'JSON', resolve: (e) => e.details }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const MAX_PAGE = 500;

builder.queryFields((t) => ({
  auditLog: t.connection(
    {
      ...requireRole('admin'),
      type: AuditEventRef,
      description: `The audit log of your tenant, newest first. Pages hold at most ${MAX_PAGE} events (default 50); page forward with first/after.`,
      args: {
        action: t.arg.string({ required: false, description: 'Only this action.' }),
        target: t.arg.string({ required: false, description: 'Only this target, e.g. "device:thermostat-1".' }),
      },
      resolve: async (_root, args, ctx) => {
        if (args.last != null || args.before != null) throw badInput('auditLog pages forward only: use first and after');
        const size = args.first ?? 50;
        if (size < 0 || size > MAX_PAGE) throw badInput(`first must be between 0 and ${MAX_PAGE}`);
        let beforeId: bigint | null = null;
        if (args.after != null) {
          if (!/^\d{1,19}$/.test(args.after)) throw badInput('after is not a cursor of this connection');
          beforeId = BigInt(args.after);
        }
        const rows = await ctx.audit.list({
          tenantId: ctx.principal.tenantId,
          limit: size + 1,
          beforeId,
          action: args.action ?? null,
          target: args.target ?? null,
        });
        const edges = rows.slice(0, size).map((node) => ({ cursor: node.id.toString(), node }));
        return {
          edges,
          pageInfo: { hasNextPage: rows.length > size, hasPreviousPage: false, startCursor: edges[0]?.cursor ?? null, endCursor: edges.at(-1)?.cursor ?? null },
        };
      },
    },
    { name: 'AuditEventConnection' },
    { name: 'AuditEventEdge' },
  ),
}));

function badInput(message: string): Error {
  return createGraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });
}
