import { builder } from '../builder.ts';
import type { CommandDefinition } from '../domain/models.ts';
import { AlreadyExistsError, InUseError, NotFoundError, ValidationError } from '../domain/errors.ts';
import { actorOf } from '../domain/principal.ts';
import { requireRole } from './auth.ts';

const CommandDefinitionRef = builder.objectRef<CommandDefinition>('CommandDefinition').implement({
  description: 'A command a device model declares, with the JSON Schema its params must satisfy.',
  fields: (t) => ({
    name: t.exposeString('name'),
    description: t.string({ nullable: true, resolve: (c) => c.description ?? null }),
    params: t.field({ type: 'JSON', description: 'JSON Schema of the params object.', resolve: (c) => c.params ?? {} }),
    timeoutMs: t.int({ nullable: true, description: 'A SENT command without a final ack after this long is TIMED_OUT.', resolve: (c) => c.timeoutMs ?? null }),
    ttlMs: t.int({
      nullable: true,
      description: 'Default time to live before delivery; an undelivered command past it is EXPIRED.',
      resolve: (c) => c.ttlMs ?? null,
    }),
  }),
});

builder.prismaObject('DeviceModelVersion', {
  description: 'One saved version of a device model (immutable).',
  fields: (t) => ({
    version: t.exposeInt('version'),
    description: t.exposeString('description', { nullable: true }),
    commands: t.field({
      type: [CommandDefinitionRef],
      select: { commands: true },
      resolve: (v) => (Array.isArray(v.commands) ? (v.commands as unknown as CommandDefinition[]) : []),
    }),
    desiredSchema: t.expose('desiredSchema', { type: 'JSON', nullable: true }),
    reportedSchema: t.expose('reportedSchema', { type: 'JSON', nullable: true }),
    createdBy: t.exposeString('createdBy', { nullable: true, description: 'Name of the API token that saved it.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

builder.prismaObjectFields('DeviceModel', (t) => ({
  versions: t.relation('versions', {
    description: 'Every saved version, newest first (models created implicitly by registerDevice have none until first saved).',
    query: { orderBy: { version: 'desc' } },
  }),
  commands: t.field({
    type: [CommandDefinitionRef],
    select: { commands: true },
    resolve: (m) => (Array.isArray(m.commands) ? (m.commands as unknown as CommandDefinition[]) : []),
  }),
  desiredSchema: t.expose('desiredSchema', { type: 'JSON', nullable: true, description: 'JSON Schema of the whole desired document.' }),
  reportedSchema: t.expose('reportedSchema', { type: 'JSON', nullable: true, description: 'JSON Schema of the whole reported document.' }),
  updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
}));

const CommandDefinitionInput = builder.inputType('CommandDefinitionInput', {
  fields: (t) => ({
    name: t.string({ required: true, description: '1–64 characters of A–Z, a–z, 0–9, "_", "." or "-".' }),
    description: t.string({ required: false }),
    params: t.field({
      type: 'JSON',
      required: false,
      description: 'JSON Schema of params (an object schema). Unknown params are refused unless it sets additionalProperties.',
    }),
    timeoutMs: t.int({ required: false }),
    ttlMs: t.int({ required: false }),
  }),
});

const DeviceModelInput = builder.inputType('DeviceModelInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    description: t.string({ required: false }),
    commands: t.field({ type: [CommandDefinitionInput], required: false, description: 'Update: omit to keep the current commands.' }),
    desiredSchema: t.field({ type: 'JSON', required: false, description: 'Update: omit to keep, null to remove.' }),
    reportedSchema: t.field({ type: 'JSON', required: false, description: 'Update: omit to keep, null to remove.' }),
  }),
});

type ModelArgs = typeof DeviceModelInput.$inferInput;

function toInput(input: ModelArgs) {
  return {
    name: input.name,
    ...(input.description !== undefined ? { description: input.description } : {}),
    commands:
      input.commands?.map((c) => ({
        name: c.name,
        description: c.description ?? null,
        params: (c.params ?? {}) as Record<string, unknown>,
        timeoutMs: c.timeoutMs ?? null,
        ttlMs: c.ttlMs ?? null,
      })) ?? null,
    ...(input.desiredSchema !== undefined ? { desiredSchema: input.desiredSchema as Record<string, unknown> | null } : {}),
    ...(input.reportedSchema !== undefined ? { reportedSchema: input.reportedSchema as Record<string, unknown> | null } : {}),
  };
}

builder.queryFields((t) => ({
  deviceModel: t.prismaField({
    ...requireRole('viewer'),
    type: 'DeviceModel',
    nullable: true,
    args: { name: t.arg.string({ required: true }) },
    resolve: (query, _root, { name }, ctx) => ctx.prisma.deviceModel.findFirst({ ...query, where: { tenantId: ctx.principal.tenantId, name } }),
  }),
}));

const DeleteDeviceModelPayload = builder.objectRef<{ name: string }>('DeleteDeviceModelPayload').implement({
  fields: (t) => ({ name: t.exposeString('name') }),
});

builder.mutationFields((t) => ({
  createDeviceModel: t.prismaField({
    ...requireRole('admin'),
    type: 'DeviceModel',
    description: 'Creates a device model (version 1). Schemas are checked against the JSON Schema meta-schema first.',
    errors: { types: [ValidationError, AlreadyExistsError] },
    args: { input: t.arg({ type: DeviceModelInput, required: true }) },
    resolve: async (query, _root, { input }, ctx) => {
      const id = await ctx.models.create(actorOf(ctx.principal), toInput(input));
      return ctx.prisma.deviceModel.findUniqueOrThrow({ ...query, where: { id } });
    },
  }),
  deleteDeviceModel: t.field({
    ...requireRole('admin'),
    type: DeleteDeviceModelPayload,
    description: 'Deletes a device model and its versions. Refused (InUse) while devices use it: move them with updateDevice first.',
    errors: { types: [NotFoundError, InUseError] },
    args: { name: t.arg.string({ required: true }) },
    resolve: async (_root, { name }, ctx) => {
      await ctx.models.remove(actorOf(ctx.principal), name);
      return { name };
    },
  }),
  updateDeviceModel: t.prismaField({
    ...requireRole('admin'),
    type: 'DeviceModel',
    description: 'Saves a new version of a device model. Devices follow the latest version.',
    errors: { types: [ValidationError, NotFoundError] },
    args: { input: t.arg({ type: DeviceModelInput, required: true }) },
    resolve: async (query, _root, { input }, ctx) => {
      const id = await ctx.models.update(actorOf(ctx.principal), toInput(input));
      return ctx.prisma.deviceModel.findUniqueOrThrow({ ...query, where: { id } });
    },
  }),
}));
