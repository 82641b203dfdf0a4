import { createGraphQLError } from 'graphql-yoga';
import { builder } from '../builder.ts';
import { COMMAND_STATUSES, type CommandStatus } from '../domain/commands/state-machine.ts';
import type { FleetProgress } from '../domain/commands/fleet.ts';
import type { CommandUpdatedEvent } from '../events/bus.ts';
import { CommandStateError, NotFoundError, RateLimitedError, ValidationError } from '../domain/errors.ts';
import { actorOf } from '../domain/principal.ts';
import { requireRole } from './auth.ts';
import { DeviceFilter } from './device.ts';
import { deviceReaderOf } from './readers.ts';
import { ErrorInterface } from './errors.ts';

export const CommandStatusEnum = builder.enumType('CommandStatus', {
  description:
    'PENDING → SENT → ACCEPTED → SUCCEEDED | FAILED | REJECTED; or EXPIRED (TTL passed before delivery), CANCELED (before delivery), TIMED_OUT (delivered, no final ack in time).',
  values: COMMAND_STATUSES,
});

builder.objectType(RateLimitedError, {
  name: 'RateLimited',
  description: 'The device was sent too many commands in the rate-limit window; nothing was stored.',
  interfaces: [ErrorInterface],
  fields: (t) => ({
    limit: t.exposeInt('limit'),
    windowMs: t.exposeInt('windowMs'),
    retryAfterMs: t.exposeInt('retryAfterMs'),
  }),
});

builder.objectType(CommandStateError, {
  name: 'IllegalCommandState',
  description: 'The command is in a state that does not allow the operation (e.g. canceling a delivered command).',
  interfaces: [ErrorInterface],
  fields: (t) => ({
    commandId: t.exposeString('commandId'),
    status: t.field({ type: CommandStatusEnum, resolve: (e) => e.status as CommandStatus }),
  }),
});

export const CommandRef = builder.prismaNode('Command', {
  id: { field: 'id' },
  findUnique: (id, ctx) => ({ id, tenantId: ctx.principal.tenantId }),
  description: 'A command to one device and where it is in its lifecycle.',
  fields: (t) => ({
    commandId: t.exposeString('id', { description: 'The id in the MQTT topic devices/{deviceId}/commands/{commandId}.' }),
    name: t.exposeString('name'),
    params: t.expose('params', { type: 'JSON' }),
    status: t.field({ type: CommandStatusEnum, select: { status: true }, resolve: (c) => c.status as CommandStatus }),
    result: t.expose('result', { type: 'JSON', nullable: true, description: "The device's `result` from its ack." }),
    error: t.expose('error', { type: 'JSON', nullable: true, description: "The device's `error` from its ack." }),
    modelVersion: t.exposeInt('modelVersion', { description: 'The device model version the params were validated against.' }),
    idempotencyKey: t.exposeString('idempotencyKey', { nullable: true }),
    requestedBy: t.exposeString('requestedBy', { description: 'Name of the API token that sent it.' }),
    requestedById: t.exposeString('requestedById', { nullable: true }),
    canceledBy: t.exposeString('canceledBy', { nullable: true }),
    timeoutMs: t.exposeInt('timeoutMs', { nullable: true }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    sentAt: t.expose('sentAt', { type: 'DateTime', nullable: true }),
    acceptedAt: t.expose('acceptedAt', { type: 'DateTime', nullable: true }),
    completedAt: t.expose('completedAt', { type: 'DateTime', nullable: true, description: 'When it reached its final state.' }),
    stateTimes: t.expose('stateTimes', { type: 'JSON', description: 'Epoch ms at which each state was reached.' }),
    refusals: t.expose('refusals', { type: 'JSON', description: 'Events refused for this command (illegal or duplicate acks), newest last.' }),
    fleetCommandId: t.exposeString('fleetCommandId', { nullable: true }),
    device: t.relation('device'),
  }),
});

builder.prismaObjectFields('Device', (t) => ({
  commands: t.relatedConnection('commands', {
    cursor: 'id',
    description: 'Commands of this device, newest first.',
    args: { status: t.arg({ type: CommandStatusEnum, required: false }) },
    query: (args) => ({
      where: args.status ? { status: args.status } : {},
      orderBy: [{ createdAt: 'desc' }, { seq: 'desc' }],
    }),
    totalCount: true,
  }),
}));

const StatusCountRef = builder.objectRef<{ status: CommandStatus; count: number }>('CommandStatusCount').implement({
  fields: (t) => ({
    status: t.field({ type: CommandStatusEnum, resolve: (c) => c.status }),
    count: t.exposeInt('count'),
  }),
});

const FleetProgressRef = builder.objectRef<FleetProgress & { fleetCommandId: string }>('FleetCommandProgress').implement({
  description: 'Members of a fleet command per state.',
  fields: (t) => ({
    fleetCommandId: t.exposeString('fleetCommandId'),
    counts: t.field({ type: [StatusCountRef], resolve: (p) => COMMAND_STATUSES.map((status) => ({ status, count: p.counts[status] })) }),
    total: t.exposeInt('total'),
    done: t.exposeInt('done', { description: 'Members in a final state.' }),
    finished: t.exposeBoolean('finished', { description: 'Every member is in a final state.' }),
    succeeded: t.int({ resolve: (p) => p.counts.SUCCEEDED }),
    pending: t.int({ resolve: (p) => p.counts.PENDING }),
  }),
});

builder.prismaNode('FleetCommand', {
  id: { field: 'id' },
  findUnique: (id, ctx) => ({ id, tenantId: ctx.principal.tenantId }),
  description: 'One command sent to many devices; each member is its own Command.',
  fields: (t) => ({
    fleetCommandId: t.exposeString('id'),
    name: t.exposeString('name'),
    params: t.expose('params', { type: 'JSON' }),
    requestedBy: t.exposeString('requestedBy'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    progress: t.field({
      type: FleetProgressRef,
      select: { id: true },
      resolve: async (f, _args, ctx) => ({ ...(await ctx.commands.progressOf(f.id)), fleetCommandId: f.id }),
    }),
    commands: t.relatedConnection('commands', {
      cursor: 'id',
      args: { status: t.arg({ type: CommandStatusEnum, required: false }) },
      query: (args) => ({ where: args.status ? { status: args.status } : {}, orderBy: [{ createdAt: 'asc' }, { seq: 'asc' }] }),
    }),
  }),
});

builder.queryFields((t) => ({
  command: t.prismaField({
    ...requireRole('viewer'),
    type: 'Command',
    nullable: true,
    args: { commandId: t.arg.string({ required: true }) },
    resolve: async (query, _root, { commandId }, ctx) =>
      /^[0-9a-f-]{36}$/i.test(commandId) ? ctx.prisma.command.findFirst({ ...query, where: { id: commandId, tenantId: ctx.principal.tenantId } }) : null,
  }),
  fleetCommand: t.prismaField({
    ...requireRole('viewer'),
    type: 'FleetCommand',
    nullable: true,
    args: { id: t.arg.string({ required: true, description: 'The fleetCommandId.' }) },
    resolve: async (query, _root, { id }, ctx) =>
      /^[0-9a-f-]{36}$/i.test(id) ? ctx.prisma.fleetCommand.findFirst({ ...query, where: { id, tenantId: ctx.principal.tenantId } }) : null,
  }),
}));

const SendCommandInput = builder.inputType('SendCommandInput', {
  fields: (t) => ({
    deviceId: t.string({ required: true }),
    name: t.string({ required: true, description: 'A command declared by the device model.' }),
    params: t.field({ type: 'JSON', required: false, description: "Must satisfy the command's params JSON Schema." }),
    ttlMs: t.int({ required: false, description: "Time to live before delivery (default: the command's ttlMs)." }),
    idempotencyKey: t.string({ required: false, description: 'Same key and device → the same command, never a second one.' }),
  }),
});

const SendFleetCommandInput = builder.inputType('SendFleetCommandInput', {
  fields: (t) => ({
    filter: t.field({ type: DeviceFilter, required: false, description: 'The devices, as in the devices query.' }),
    deviceIds: t.stringList({ required: false, description: 'Or an explicit list of device ids.' }),
    name: t.string({ required: true }),
    params: t.field({ type: 'JSON', required: false }),
    ttlMs: t.int({ required: false }),
  }),
});

builder.mutationFields((t) => ({
  sendCommand: t.prismaField({
    ...requireRole('operator'),
    type: 'Command',
    description: "Validates a command against the device's model, stores it PENDING and delivers it (now if the device is online, else on reconnect).",
    errors: { types: [ValidationError, NotFoundError, RateLimitedError] },
    args: { input: t.arg({ type: SendCommandInput, required: true }) },
    resolve: async (query, _root, { input }, ctx) => {
      const { id } = await ctx.commands.send(actorOf(ctx.principal), {
        deviceId: input.deviceId,
        name: input.name,
        params: input.params ?? {},
        ttlMs: input.ttlMs ?? null,
        idempotencyKey: input.idempotencyKey ?? null,
      });
      return ctx.prisma.command.findUniqueOrThrow({ ...query, where: { id } });
    },
  }),
  cancelCommand: t.prismaField({
    ...requireRole('operator'),
    type: 'Command',
    description: 'Cancels a command that has not been delivered (PENDING → CANCELED); IllegalCommandState otherwise.',
    errors: { types: [NotFoundError, CommandStateError] },
    args: { commandId: t.arg.string({ required: true }) },
    resolve: async (query, _root, { commandId }, ctx) => {
      const id = await ctx.commands.cancel(actorOf(ctx.principal), commandId);
      return ctx.prisma.command.findUniqueOrThrow({ ...query, where: { id } });
    },
  }),
  sendFleetCommand: t.prismaField({
    ...requireRole('operator'),
    type: 'FleetCommand',
    description: 'One command to many devices (a filter or a list of ids): each gets its own Command, validated against its model. All or nothing.',
    errors: { types: [ValidationError] },
    args: { input: t.arg({ type: SendFleetCommandInput, required: true }) },
    resolve: async (query, _root, { input }, ctx) => {
      const hasIds = input.deviceIds != null;
      if (hasIds === (input.filter != null)) {
        throw new ValidationError('invalid fleet command', [{ path: ['input'], code: 'INVALID_TARGET', message: 'give exactly one of filter and deviceIds' }]);
      }
      // The devices query's filter, checked and rendered the same way (src/services/device-reads.ts): same filter, same devices.
      const parsed = hasIds ? null : deviceReaderOf(ctx).parseFilter(input.filter, ['input', 'filter']);
      if (parsed && !parsed.ok) throw parsed.error;
      const selection = parsed ? { filter: parsed.filter } : { deviceIds: input.deviceIds! };
      const id = await ctx.commands.sendFleet(actorOf(ctx.principal), { name: input.name, params: input.params ?? {}, ttlMs: input.ttlMs ?? null }, selection);
      return ctx.prisma.fleetCommand.findUniqueOrThrow({ ...query, where: { id } });
    },
  }),
}));

const CommandUpdateRef = builder.objectRef<CommandUpdatedEvent>('CommandUpdate').implement({
  description: 'A command was created or changed state.',
  fields: (t) => ({
    commandId: t.exposeString('commandId'),
    deviceId: t.exposeString('deviceId'),
    fleetCommandId: t.exposeString('fleetCommandId', { nullable: true }),
    from: t.field({ type: CommandStatusEnum, nullable: true, resolve: (e) => e.from as CommandStatus | null }),
    status: t.field({ type: CommandStatusEnum, resolve: (e) => e.status as CommandStatus }),
    at: t.field({ type: 'DateTime', resolve: (e) => new Date(e.at) }),
    command: t.prismaField({
      type: 'Command',
      nullable: true,
      description: 'The command as it is when this event is delivered (may be newer than `status`).',
      resolve: (query, e, _args, ctx) => ctx.prisma.command.findUnique({ ...query, where: { id: e.commandId } }),
    }),
  }),
});

builder.subscriptionFields((t) => ({
  commandUpdated: t.field({
    ...requireRole('viewer'),
    type: CommandUpdateRef,
    description: 'Every stored command transition. Omit deviceId for every device you may see; commandId narrows to one command.',
    args: { deviceId: t.arg.string({ required: false }), commandId: t.arg.string({ required: false }) },
    subscribe: (_root, { deviceId, commandId }, ctx) =>
      ctx.bus.subscribe(
        'commandUpdated',
        (e) => e.tenantId === ctx.principal.tenantId && (deviceId == null || e.deviceId === deviceId) && (commandId == null || e.commandId === commandId),
      ),
    resolve: (event) => event,
  }),
  fleetCommandProgress: t.field({
    ...requireRole('viewer'),
    type: FleetProgressRef,
    description: 'The progress of a fleet command: now, then after every change; completes once every member is final.',
    args: { id: t.arg.string({ required: true }) },
    subscribe: (_root, { id }, ctx) => {
      const tenantId = ctx.principal.tenantId;
      // Subscribed before the first read, so no change between the read and the first event is missed.
      const events = ctx.bus.subscribe('fleetProgress', (e) => e.tenantId === tenantId && e.fleetCommandId === id);
      return (async function* () {
        try {
          const fleet = /^[0-9a-f-]{36}$/i.test(id) ? await ctx.prisma.fleetCommand.findFirst({ where: { id, tenantId }, select: { id: true } }) : null;
          if (!fleet) throw createGraphQLError(`fleet command ${JSON.stringify(id)} not found`, { extensions: { code: 'NOT_FOUND' } });
          const first = await ctx.commands.progressOf(id);
          yield { ...first, fleetCommandId: id };
          if (first.finished) return;
          for await (const e of events) {
            yield { ...e.progress, fleetCommandId: id };
            if (e.progress.finished) return;
          }
        } finally {
          await events.return?.();
        }
      })();
    },
    resolve: (p) => p,
  }),
}));
