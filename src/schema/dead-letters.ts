/**
 * Dead letters (docs/operations.md, "Dead letters"): device messages that failed deterministically,
 * for the admins of the device's tenant to inspect, replay and discard (src/services/dead-letters/).
 */
import { createGraphQLError } from 'graphql-yoga';
import { builder } from '../builder.ts';
import { NotFoundError } from '../domain/errors.ts';
import { isUuid } from '../domain/ids.ts';
import { actorOf } from '../domain/principal.ts';
import type { DeadLetter, ReplayOutcome } from '../services/dead-letters/index.ts';
import { requireRole } from './auth.ts';

const DeadLetterKindEnum = builder.enumType('DeadLetterKind', {
  description: 'The device topic the message came in on.',
  values: {
    TELEMETRY: { value: 'telemetry', description: 'devices/{id}/telemetry' },
    TWIN_REPORTED: { value: 'twinReported', description: 'devices/{id}/twin/reported' },
    TWIN_GET: { value: 'twinGet', description: 'devices/{id}/twin/get' },
    STATUS: { value: 'status', description: 'devices/{id}/status' },
    COMMAND_ACK: { value: 'commandAck', description: 'devices/{id}/commands/{commandId}/ack' },
  } as const,
});

/** The payload as text when it is valid UTF-8 (JSON payloads are), else null. */
function utf8OrNull(bytes: Uint8Array): string | null {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}

const DeadLetterRef = builder.objectRef<DeadLetter>('DeadLetter').implement({
  description: 'A device message that failed deterministically (it fails alone, on a healthy database), kept with its exact bytes.',
  fields: (t) => ({
    id: t.exposeID('id'),
    deviceId: t.exposeString('deviceId', { description: 'The device id as in the topic (the device may have been deleted since).' }),
    topic: t.exposeString('topic'),
    kind: t.field({ type: DeadLetterKindEnum, resolve: (d) => d.kind }),
    payloadText: t.string({
      nullable: true,
      description: 'The payload as UTF-8 text; null when it is not valid UTF-8 (see payloadBase64).',
      resolve: (d) => utf8OrNull(d.payload),
    }),
    payloadBase64: t.string({ description: 'The exact bytes received, base64.', resolve: (d) => Buffer.from(d.payload).toString('base64') }),
    payloadBytes: t.int({ resolve: (d) => d.payload.byteLength }),
    errorCode: t.exposeString('errorCode', { description: 'e.g. STORE_REFUSED (the store refuses the points even alone), INTERNAL.' }),
    error: t.exposeString('error', { description: 'The error message (bounded length).' }),
    receivedAt: t.field({ type: 'DateTime', resolve: (d) => new Date(d.receivedAt) }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    replayCount: t.exposeInt('replayCount'),
    lastReplayedAt: t.expose('lastReplayedAt', { type: 'DateTime', nullable: true }),
    lastReplayResult: t.exposeString('lastReplayResult', { nullable: true, description: '"resolved", or "<code>: <message>" of the last replay that failed.' }),
    resolvedAt: t.expose('resolvedAt', { type: 'DateTime', nullable: true, description: 'When a replay stored it.' }),
  }),
});

const ReplayFailureRef = builder.objectRef<{ code: string; message: string }>('DeadLetterReplayFailure').implement({
  fields: (t) => ({ code: t.exposeString('code'), message: t.exposeString('message') }),
});

const ReplayedDeadLetterRef = builder.objectRef<ReplayOutcome>('ReplayedDeadLetter').implement({
  fields: (t) => ({
    deadLetter: t.field({ type: DeadLetterRef, resolve: (r) => r.deadLetter }),
    resolved: t.exposeBoolean('resolved', { description: 'Whether the message is stored now.' }),
    failure: t.field({
      type: ReplayFailureRef,
      nullable: true,
      description: 'Why it failed again (the row is updated, never duplicated).',
      resolve: (r) => r.failure,
    }),
  }),
});

const DiscardedDeadLetterRef = builder.objectRef<{ id: string }>('DiscardedDeadLetter').implement({
  fields: (t) => ({ id: t.exposeID('id') }),
});

const MAX_PAGE = 500;

function encodeCursor(d: DeadLetter): string {
  return Buffer.from(`${new Date(d.receivedAt).toISOString()}|${d.id}`).toString('base64url');
}

function decodeCursor(cursor: string): { receivedAt: Date; id: string } {
  const [at, id] = Buffer.from(cursor, 'base64url').toString().split('|');
  const receivedAt = new Date(at ?? '');
  if (!id || !isUuid(id) || Number.isNaN(receivedAt.getTime())) throw badInput('after is not a cursor of this connection');
  return { receivedAt, id };
}

builder.queryFields((t) => ({
  deadLetters: t.connection(
    {
      ...requireRole('admin'),
      type: DeadLetterRef,
      description: `Device messages of your tenant that failed deterministically, newest received first. Pages hold at most ${MAX_PAGE} (default 50); page forward with first/after.`,
      args: {
        deviceId: t.arg.string({ required: false, description: 'Only this device.' }),
        kind: t.arg({ type: DeadLetterKindEnum, required: false, description: 'Only this topic kind.' }),
        unresolvedOnly: t.arg.boolean({ required: false, defaultValue: false, description: 'Only those no replay has stored yet.' }),
      },
      resolve: async (_root, args, ctx) => {
        if (args.last != null || args.before != null) throw badInput('deadLetters pages forward only: use first and after');
        const size = args.first ?? 50;
        if (size < 0 || size > MAX_PAGE) throw badInput(`first must be between 0 and ${MAX_PAGE}`);
        const rows = await ctx.deadLetters.list({
          tenantId: ctx.principal.tenantId,
          limit: size + 1,
          after: args.after != null ? decodeCursor(args.after) : null,
          deviceId: args.deviceId ?? null,
          kind: args.kind ?? null,
          unresolvedOnly: args.unresolvedOnly ?? false,
        });
        const edges = rows.slice(0, size).map((node) => ({ cursor: encodeCursor(node), node }));
        return {
          edges,
          pageInfo: { hasNextPage: rows.length > size, hasPreviousPage: false, startCursor: edges[0]?.cursor ?? null, endCursor: edges.at(-1)?.cursor ?? null },
        };
      },
    },
    { name: 'DeadLetterConnection' },
    { name: 'DeadLetterEdge' },
  ),
}));

builder.mutationFields((t) => ({
  replayDeadLetter: t.field({
    ...requireRole('admin'),
    type: ReplayedDeadLetterRef,
    description:
      'Runs a dead letter again through the path live device messages take (once its cause is fixed: a bug, a re-created device). Success resolves it; a new failure updates it. A resolved one is returned as it is. Audited as deadLetter.replay.',
    errors: { types: [NotFoundError] },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      const outcome = await ctx.deadLetters.replay(actorOf(ctx.principal), String(id));
      if (!outcome.ok) throw outcome.error;
      return outcome;
    },
  }),
  discardDeadLetter: t.field({
    ...requireRole('admin'),
    type: DiscardedDeadLetterRef,
    description: 'Deletes a dead letter of your tenant without replaying it. Audited as deadLetter.discard.',
    errors: { types: [NotFoundError] },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      const outcome = await ctx.deadLetters.discard(actorOf(ctx.principal), String(id));
      if (!outcome.ok) throw outcome.error;
      return { id: outcome.id };
    },
  }),
}));

function badInput(message: string): Error {
  return createGraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });
}
