/**
 * Bulk registration (docs/onboarding.md "Bulk registration"): `registerDevices`, admin only. Every row
 * is answered in `results`, in input order; only a call over the row limit is refused as a whole.
 * The service (src/services/devices/bulk.ts) checks, writes and audits; this file only converts.
 */
import { encodeGlobalID } from '@pothos/plugin-relay';
import { builder } from '../builder.ts';
import { NotFoundError, ValidationError } from '../domain/errors.ts';
import { actorOf } from '../domain/principal.ts';
import type { BulkRegisterResult, BulkRowError, BulkRowResult, DeviceUpdateInput } from '../services/devices/index.ts';
import { MAX_BULK_DEVICES } from '../services/devices/index.ts';
import { requireRole } from './auth.ts';
import { RegisterDeviceInput } from './device.ts';

const RowStatusEnum = builder.enumType('RegisterDeviceRowStatus', {
  values: {
    CREATED: { description: 'Registered; `password` holds its MQTT secret, shown only in this response.' },
    VALID: { description: 'Dry run: this row would be registered.' },
    FAILED: { description: 'Not registered; `errors` says why.' },
  } as const,
});

const RowErrorRef = builder.objectRef<BulkRowError>('RegisterDeviceRowError').implement({
  description:
    'Why a row was not registered. Codes: INVALID_DEVICE_ID, TOO_LONG, TOO_MANY, INVALID_TAG, INVALID_MODEL, DUPLICATE_IN_REQUEST, ' +
    'ALREADY_EXISTS, NOT_CREATED (all-or-nothing call refused because of another row).',
  fields: (t) => ({
    code: t.exposeString('code'),
    message: t.exposeString('message'),
    path: t.exposeStringList('path', { description: 'Where, as the arguments name it, e.g. ["inputs","12","deviceId"].' }),
  }),
});

const RowResultRef = builder.objectRef<BulkRowResult>('RegisterDeviceRowResult').implement({
  fields: (t) => ({
    index: t.exposeInt('index', { description: 'The row of `inputs` this answers (0-based).' }),
    deviceId: t.exposeString('deviceId'),
    status: t.field({ type: RowStatusEnum, resolve: (r) => r.status }),
    id: t.id({
      nullable: true,
      description: 'Global id of the created device.',
      resolve: (r) => (r.status === 'CREATED' ? encodeGlobalID('Device', r.deviceUuid) : null),
    }),
    username: t.string({
      nullable: true,
      description: 'MQTT username (the device id) of a created device.',
      resolve: (r) => (r.status === 'CREATED' ? r.deviceId : null),
    }),
    password: t.string({
      nullable: true,
      description: 'MQTT password of a created device, shown only in this response (Doppel keeps its hash).',
      resolve: (r) => (r.status === 'CREATED' ? r.password : null),
    }),
    errors: t.field({ type: [RowErrorRef], resolve: (r) => (r.status === 'FAILED' ? r.errors : []) }),
  }),
});

const RegisterDevicesPayloadRef = builder.objectRef<BulkRegisterResult>('RegisterDevicesPayload').implement({
  fields: (t) => ({
    dryRun: t.exposeBoolean('dryRun'),
    atomic: t.exposeBoolean('atomic'),
    created: t.exposeInt('created'),
    failed: t.exposeInt('failed'),
    results: t.field({ type: [RowResultRef], resolve: (p) => p.rows }),
  }),
});

const UpdateDeviceInput = builder.inputType('UpdateDeviceInput', {
  description: 'Omit a field to keep it; null clears name and model; tags replaces every tag ([] removes them all).',
  fields: (t) => ({
    name: t.string({ required: false }),
    tags: t.stringList({ required: false }),
    model: t.string({ required: false, description: 'Device model name; created on first use.' }),
  }),
});

builder.mutationFields((t) => ({
  updateDevice: t.prismaField({
    ...requireRole('admin'),
    type: 'Device',
    description: 'Renames, retags or moves a device to another model. Rules, webhook filters and fleet commands see the change from the next message.',
    errors: { types: [ValidationError, NotFoundError] },
    args: { deviceId: t.arg.string({ required: true }), input: t.arg({ type: UpdateDeviceInput, required: true }) },
    resolve: async (query, _root, { deviceId, input }, ctx) => {
      const update: DeviceUpdateInput = {};
      if (input.name !== undefined) update.name = input.name;
      if (input.tags !== undefined) update.tags = input.tags ?? [];
      if (input.model !== undefined) update.modelName = input.model;
      const device = await ctx.devices.update(actorOf(ctx.principal), deviceId, update);
      return ctx.prisma.device.findUniqueOrThrow({ ...query, where: { id: device.id } });
    },
  }),
  registerDevices: t.field({
    ...requireRole('admin'),
    type: RegisterDevicesPayloadRef,
    description:
      `Registers up to ${MAX_BULK_DEVICES} devices in one transaction. Each row is answered in results (created with its ` +
      'password, shown once, or its errors). atomic: all-or-nothing (one refused row refuses all); default per row. ' +
      'dryRun: check every row (including ids already taken) and write nothing.',
    errors: { types: [ValidationError] },
    args: {
      inputs: t.arg({ type: [RegisterDeviceInput], required: true }),
      dryRun: t.arg.boolean({ required: false, defaultValue: false }),
      atomic: t.arg.boolean({ required: false, defaultValue: false }),
    },
    resolve: (_root, { inputs, dryRun, atomic }, ctx) =>
      ctx.devices.registerMany(
        actorOf(ctx.principal),
        inputs.map((input) => ({ deviceId: input.deviceId, name: input.name ?? null, tags: input.tags ?? [], modelName: input.model ?? null })),
        { dryRun: dryRun ?? false, atomic: atomic ?? false },
      ),
  }),
}));
