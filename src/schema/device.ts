import { encodeGlobalID } from '@pothos/plugin-relay';
import { builder } from '../builder.ts';
import type { DeviceConnectionEvent } from '../events/bus.ts';
import { Kind, type FieldNode, type GraphQLObjectType, type GraphQLResolveInfo, type GraphQLSchema, type SelectionNode } from 'graphql';
import { createGraphQLError } from 'graphql-yoga';
import type { GraphQLContext } from '../context.ts';
import { searchesTwin, type FleetFilter } from '../domain/fleet-filter.ts';
import type { Device, Twin } from '../generated/prisma/client.ts';
import {
  DEVICE_COLUMNS,
  EVERY_PAGE_COLUMN,
  TWIN_STATE_COLUMNS,
  type DeviceColumn,
  type PageColumns,
  type TwinState,
  type TwinStateColumn,
} from '../services/device-reads.ts';
import { deviceReaderOf } from './readers.ts';
import { TwinRef } from './twin.ts';
import { actorOf } from '../domain/principal.ts';
import { AlreadyExistsError, NotFoundError, ValidationError } from '../domain/errors.ts';
import { requireRole } from './auth.ts';

export const DeviceModelRef = builder.prismaNode('DeviceModel', {
  id: { field: 'id' },
  // node(id) never crosses tenants: the lookup itself is scoped, and another tenant's id is simply not
  // found (`nullable`: the lookup returns null instead of throwing, which would surface as an internal error).
  findUnique: (id, ctx) => ({ id, tenantId: ctx.principal.tenantId }),
  nullable: true,
  // Defense in depth: even a resolver that forgot its tenant filter cannot show another tenant's object.
  authScopes: (model) => ({ tenant: model.tenantId }),
  description: 'The type of a device.',
  fields: (t) => ({
    name: t.exposeString('name'),
    description: t.exposeString('description', { nullable: true }),
    version: t.exposeInt('version'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

export const DeviceRef = builder.prismaNode('Device', {
  id: { field: 'id' },
  findUnique: (id, ctx) => ({ id, tenantId: ctx.principal.tenantId }),
  nullable: true,
  // The caller's own device is granted outright (`true` skips scope-auth's evaluation of a scope map,
  // ≈ 2 % of a devices page of 100 when every device went through it); any other device is refused
  // through the `tenant` scope exactly as before, with the same error (src/builder.ts `forbidden`).
  authScopes: (device, ctx) => device.tenantId === ctx.principal.tenantId || { tenant: device.tenantId },
  // Checked once per device object as it is resolved, not again in every one of its fields: the
  // fields of a device read nothing the device's own tenant check does not already cover, and a page
  // of 100 devices would otherwise run the check (and a wrapper) around each of its ~10 fields.
  runScopesOnType: true,
  description: 'A device and its digital twin.',
  fields: (t) => ({
    deviceId: t.exposeString('deviceId', { description: 'The device id, also its MQTT username.' }),
    name: t.exposeString('name', { nullable: true }),
    tags: t.exposeStringList('tags'),
    model: t.relation('model', { nullable: true }),
    connected: t.exposeBoolean('connected', { description: 'Whether the device is connected to the broker now.' }),
    lastSeenAt: t.expose('lastSeenAt', { type: 'DateTime', nullable: true }),
    disabled: t.boolean({ description: 'Disabled devices are refused by the broker until enableDevice.', resolve: (d) => d.disabledAt !== null }),
    credentialsRevoked: t.boolean({
      description: 'Revoked credentials: no secret works until rotateDeviceCredentials.',
      resolve: (d) => d.credentialsRevokedAt !== null,
    }),
    previousSecretExpiresAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When the secret replaced by the last rotation stops working (null: it already has, or there was no grace period).',
      resolve: (d) => (d.previousSecretExpiresAt && d.previousSecretExpiresAt.getTime() > Date.now() ? d.previousSecretExpiresAt : null),
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    // Not a Prisma relation: the hot reads bring the twin with the device (one statement), and a device
    // read any other way loads it through the request's device reader (one statement per batch), so
    // no per-row Prisma planning either way.
    twin: t.field({
      type: TwinRef,
      // Synchronous when the twin came with the device (a page of 100 would otherwise make 100 promises
      // the executor has to wait on); loaded through the request's reader otherwise.
      resolve: (device, _args, ctx) => {
        const loaded = (device as { twin?: TwinState | null }).twin;
        if (loaded !== undefined) return presentTwin(device.id, loaded);
        return deviceReaderOf(ctx)
          .twinOf(ctx.principal.tenantId, device.id)
          .then((twin) => presentTwin(device.id, twin));
      },
    }),
  }),
});

/**
 * Pothos' relay plugin resolves a node's `id` with an `async` function, so a page of 100 devices that
 * selects `id` made 100 promises, and the executor then awaited each device object as a whole
 * (`promiseForObject`) instead of completing it in place. A device's global id is its uuid encoded,
 * nothing to wait for: this gives the built schema's `Device.id` the same encoding, synchronously. The
 * schema has no custom `relay.encodeGlobalID` (src/builder.ts), and `Device` runs its scopes on the
 * type (`runScopesOnType`), so no wrapper around the field is lost.
 */
export function resolveDeviceIdsSynchronously(schema: GraphQLSchema): void {
  // Not `isObjectType`: under vitest the schema's graphql module and this file's may be two copies
  // (ESM and CommonJS builds), and graphql's instanceof checks refuse each other's types.
  const device = schema.getType('Device') as Partial<GraphQLObjectType> | undefined;
  const id = device?.getFields?.().id;
  if (!id) throw new Error('the schema has no Device.id');
  id.resolve = (parent: { id: string }) => encodeGlobalID('Device', parent.id);
}

/** Without the metadata columns; Twin.metadata loads them when asked. Every device has a twin. */
function presentTwin(deviceUuid: string, twin: TwinState | null): Twin {
  if (!twin) throw new Error(`device ${deviceUuid} has no twin`);
  return twin as Twin;
}

export const TwinPathCondition = builder.inputType('TwinPathCondition', {
  description:
    'A condition on one leaf of a twin section: exactly one of eq, ne, lt, gt, in, exists. Values are JSON scalars ' +
    '(string, number, boolean; never null: use exists: false). eq/in match the same JSON type only ("1" is not 1); ' +
    'ne also matches devices without the leaf; lt/gt compare numbers numerically and strings by Unicode code point, ' +
    'and never match a leaf of another type. The path never steps into arrays. See docs/onboarding.md#fleet-search.',
  fields: (t) => ({
    path: t.stringList({ required: true, description: 'Object keys from the section root, e.g. ["fw", "version"] (1–16 keys).' }),
    eq: t.field({ type: 'JSON', required: false, description: 'The leaf is this value.' }),
    ne: t.field({ type: 'JSON', required: false, description: 'The leaf is not this value, or is absent.' }),
    lt: t.field({ type: 'JSON', required: false, description: 'The leaf is a number (string) less than this number (string).' }),
    gt: t.field({ type: 'JSON', required: false, description: 'The leaf is a number (string) greater than this number (string).' }),
    in: t.field({ type: ['JSON'], required: false, description: 'The leaf is one of these values (1–100).' }),
    exists: t.boolean({ required: false, description: 'The leaf (or object) at the path is present (true) or absent (false).' }),
  }),
});

export const DeviceFilter = builder.inputType('DeviceFilter', {
  description: 'Every given condition holds (AND), within your tenant. Fleet search: docs/onboarding.md#fleet-search.',
  fields: (t) => ({
    tag: t.string({ required: false, description: 'Devices carrying this tag.' }),
    tags: t.stringList({ required: false, description: 'Devices carrying all of these tags.' }),
    connected: t.boolean({ required: false }),
    model: t.string({ required: false, description: 'Name of the device model.' }),
    reported: t.field({ type: [TwinPathCondition], required: false, description: 'Conditions on the reported state (at most 16).' }),
    desired: t.field({ type: [TwinPathCondition], required: false, description: 'Conditions on the desired state (at most 16).' }),
    hasDelta: t.boolean({ required: false, description: 'true: the device has not reached its desired state yet (its delta is not empty); false: it has.' }),
    lastSeenBefore: t.field({ type: 'DateTime', required: false, description: 'Last seen strictly before this instant (a device never seen does not match).' }),
    lastSeenAfter: t.field({ type: 'DateTime', required: false, description: 'Last seen strictly after this instant.' }),
    alarmActive: t.boolean({
      required: false,
      description: 'true: the device has an open alarm (ACTIVE, ACKNOWLEDGED or LATCHED, i.e. not CLEARED); false: it has none.',
    }),
  }),
});

export type DeviceFilterInput = typeof DeviceFilter.$inferInput;

/**
 * The checked filter (src/domain/fleet-filter.ts), or a GraphQL error VALIDATION_FAILED whose
 * `extensions.issues` say which fields are wrong (the query has no error union to carry a ValidationError).
 */
function checkedFilter(ctx: GraphQLContext, input: DeviceFilterInput | null | undefined): FleetFilter {
  const parsed = deviceReaderOf(ctx).parseFilter(input, ['filter']);
  if (parsed.ok) return parsed.filter;
  const { issues } = parsed.error;
  throw createGraphQLError(`invalid device filter: ${issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, {
    extensions: { code: parsed.error.code, issues },
  });
}

/** Whether the field being resolved selects `name` among its own fields (through fragments too). */
function selectsField(info: GraphQLResolveInfo, name: string): boolean {
  return subfields(info, info.fieldNodes).some((field) => field.name.value === name);
}

/**
 * The fields selected directly under these field nodes, through inline fragments and fragment spreads.
 * `@skip`/`@include` are not evaluated: a field they leave out is read all the same, which costs a
 * column and never a wrong answer.
 */
function subfields(info: GraphQLResolveInfo, nodes: readonly FieldNode[]): FieldNode[] {
  const fields: FieldNode[] = [];
  const visit = (selections: readonly SelectionNode[]) => {
    for (const selection of selections) {
      if (selection.kind === Kind.FIELD) fields.push(selection);
      else if (selection.kind === Kind.INLINE_FRAGMENT) visit(selection.selectionSet.selections);
      else {
        const fragment = info.fragments[selection.name.value];
        if (fragment) visit(fragment.selectionSet.selections);
      }
    }
  };
  for (const node of nodes) if (node.selectionSet) visit(node.selectionSet.selections);
  return fields;
}

/**
 * The columns each `Device` field reads, beyond the core ones every page reads (id, tenantId,
 * deviceId: src/services/device-reads.ts). A field that is not listed (one added in another file, such
 * as `twinHistory` or `telemetry`) makes the page read every column: listing a field here is a claim
 * about what its resolver reads, checked field by field by test/e2e/device-page-columns.test.ts.
 */
const DEVICE_FIELD_COLUMNS: Readonly<Record<string, readonly DeviceColumn[]>> = {
  __typename: [],
  id: [],
  deviceId: [],
  name: ['name'],
  tags: ['tags'],
  connected: ['connected'],
  lastSeenAt: ['lastSeenAt'],
  disabled: ['disabledAt'],
  credentialsRevoked: ['credentialsRevokedAt'],
  previousSecretExpiresAt: ['previousSecretExpiresAt'],
  createdAt: ['createdAt'],
};

/** The same for `Twin` (its key is always read; `metadata` loads its own columns by it). */
const TWIN_FIELD_COLUMNS: Readonly<Record<string, readonly TwinStateColumn[]>> = {
  __typename: [],
  version: ['version'],
  reported: ['reported'],
  desired: ['desired'],
  delta: ['delta'],
  updatedAt: ['updatedAt'],
  metadata: [],
};

/** What a `devices` selection needs, per field node of the parsed document (Yoga reuses it per query text). */
const pageColumnsByNode = new WeakMap<FieldNode, PageColumns>();

/** The columns the `devices` connection being resolved needs for its `edges { node { … } }`. */
function pageColumnsOf(info: GraphQLResolveInfo): PageColumns {
  const key = info.fieldNodes[0]!;
  let columns = pageColumnsByNode.get(key);
  if (columns) return columns;
  const edges = subfields(info, info.fieldNodes).filter((field) => field.name.value === 'edges');
  const nodes = subfields(info, edges).filter((field) => field.name.value === 'node');
  columns = deviceColumnsOf(info, nodes);
  pageColumnsByNode.set(key, columns);
  return columns;
}

function deviceColumnsOf(info: GraphQLResolveInfo, deviceNodes: readonly FieldNode[]): PageColumns {
  const device = new Set<DeviceColumn>();
  const twinNodes: FieldNode[] = [];
  for (const field of subfields(info, deviceNodes)) {
    const name = field.name.value;
    if (name === 'twin') twinNodes.push(field);
    else if (Object.hasOwn(DEVICE_FIELD_COLUMNS, name)) for (const column of DEVICE_FIELD_COLUMNS[name]!) device.add(column);
    else return EVERY_PAGE_COLUMN;
  }
  if (twinNodes.length === 0) return { device: [...device], twin: null };
  const twin = new Set<TwinStateColumn>();
  for (const field of subfields(info, twinNodes)) {
    const name = field.name.value;
    if (!Object.hasOwn(TWIN_FIELD_COLUMNS, name)) return { device: [...device], twin: TWIN_STATE_COLUMNS };
    for (const column of TWIN_FIELD_COLUMNS[name]!) twin.add(column);
  }
  return { device: [...device], twin: [...twin] };
}

const DEVICE_COLUMN_SET = new Set<string>(DEVICE_COLUMNS);

/**
 * Whether the device reader (src/services/device-reads.ts) answers a Pothos plan exactly: the plan
 * asks for the device's own columns only (the twin is not a Prisma relation; the reader brings it
 * along). Anything else the selection needs (the
 * model, latest values, counts of alarms or commands) goes through Prisma as planned.
 */
function readerAnswers(query: { include?: object; select?: object }): boolean {
  const { include, select, ...window } = query as { include?: Record<string, unknown>; select?: Record<string, unknown> };
  for (const key of Object.keys(window)) if (key !== 'take' && key !== 'skip' && key !== 'cursor') return false;
  if (include && Object.keys(include).length > 0) return false;
  if (select) for (const [key, value] of Object.entries(select)) if (!DEVICE_COLUMN_SET.has(key) || value !== true) return false;
  return true;
}

builder.queryFields((t) => ({
  device: t.prismaField({
    ...requireRole('viewer'),
    type: 'Device',
    nullable: true,
    args: { deviceId: t.arg.string({ required: true }) },
    resolve: (query, _root, { deviceId }, ctx) =>
      readerAnswers(query)
        ? // Rows shaped as Prisma's, with the twin (Device.twin answers from it).
          deviceReaderOf(ctx).byDeviceId(ctx.principal.tenantId, deviceId)
        : ctx.prisma.device.findFirst({ ...query, where: { tenantId: ctx.principal.tenantId, deviceId } }),
  }),
  devices: t.prismaConnection(
    {
      ...requireRole('viewer'),
      type: 'Device',
      cursor: 'id',
      args: { filter: t.arg({ type: DeviceFilter, required: false }) },
      defaultSize: 50,
      maxSize: 500,
      // The same filter SQL for the count and both page paths (src/services/device-reads.ts), on the
      // primary tables: a search right after an accepted change sees it.
      totalCount: (_parent, args, ctx) => deviceReaderOf(ctx).count(ctx.principal.tenantId, checkedFilter(ctx, args.filter)),
      resolve: async (query, _root, args, ctx, info) => {
        const filter = checkedFilter(ctx, args.filter);
        const reader = deviceReaderOf(ctx);
        const window = { take: query.take, skip: query.skip, ...(query.cursor ? { cursor: query.cursor.id } : {}) };
        // A search of twin state asked for totalCount too: the page statement counts the matches as it
        // finds them (one pass over the GIN matches, not two). Without twin conditions the page walks
        // the device index in order and stops after the window, and a separate count is cheaper.
        const options = { withCount: searchesTwin(filter) && selectsField(info, 'totalCount') };
        // Only the columns the selection shows (PartialDevice): every field listed in
        // DEVICE_FIELD_COLUMNS reads nothing else, and an unlisted one makes the page read them all.
        if (readerAnswers(query)) return reader.pageOf(ctx.principal.tenantId, filter, window, pageColumnsOf(info), options) as Promise<Device[]>;
        // The selection needs Prisma (model, latest values, …): the window's ids by the filter SQL,
        // then the rows as planned, in the window's order.
        const ids = await reader.pageIds(ctx.principal.tenantId, filter, window, options);
        const { take: _take, skip: _skip, cursor: _cursor, ...selection } = query;
        const rows = await ctx.prisma.device.findMany({ ...selection, where: { tenantId: ctx.principal.tenantId, id: { in: ids } } });
        const position = new Map(ids.map((id, i) => [id, i]));
        return rows.sort((a, b) => position.get(a.id)! - position.get(b.id)!);
      },
    },
    { name: 'DeviceConnection' },
    { name: 'DeviceEdge' },
  ),
  deviceModels: t.prismaField({
    ...requireRole('viewer'),
    type: ['DeviceModel'],
    resolve: (query, _root, _args, ctx) => ctx.prisma.deviceModel.findMany({ ...query, where: { tenantId: ctx.principal.tenantId }, orderBy: { name: 'asc' } }),
  }),
}));

const CredentialsRef = builder.objectRef<{ username: string; password: string }>('DeviceCredentials').implement({
  description: 'MQTT credentials. The password is shown only in this response; Doppel keeps only its hash.',
  fields: (t) => ({
    username: t.exposeString('username'),
    password: t.exposeString('password'),
  }),
});

const DeviceWithCredentialsRef = builder
  .objectRef<{ deviceUuid: string; credentials: { username: string; password: string } }>('DeviceWithCredentials')
  .implement({
    fields: (t) => ({
      device: t.prismaField({
        type: 'Device',
        resolve: (query, parent, _args, ctx) => ctx.prisma.device.findUniqueOrThrow({ ...query, where: { id: parent.deviceUuid } }),
      }),
      credentials: t.field({ type: CredentialsRef, resolve: (p) => p.credentials }),
    }),
  });

export const RegisterDeviceInput = builder.inputType('RegisterDeviceInput', {
  fields: (t) => ({
    deviceId: t.string({ required: true, description: '1–64 characters of A–Z, a–z, 0–9, ".", "_", "-".' }),
    name: t.string({ required: false }),
    tags: t.stringList({ required: false }),
    model: t.string({ required: false, description: 'Device model name; created on first use.' }),
  }),
});

const DeleteDevicePayload = builder.objectRef<{ deviceId: string; id: string }>('DeleteDevicePayload').implement({
  fields: (t) => ({
    deviceId: t.exposeString('deviceId'),
    id: t.field({ type: 'ID', description: 'Global id of the deleted device.', resolve: (p) => p.id }),
  }),
});

builder.mutationFields((t) => ({
  registerDevice: t.field({
    ...requireRole('admin'),
    type: DeviceWithCredentialsRef,
    description: 'Registers a device and returns its MQTT credentials (shown once).',
    errors: { types: [ValidationError, AlreadyExistsError] },
    args: { input: t.arg({ type: RegisterDeviceInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const { device, credentials } = await ctx.devices.register(actorOf(ctx.principal), {
        deviceId: input.deviceId,
        name: input.name ?? null,
        tags: input.tags ?? [],
        modelName: input.model ?? null,
      });
      return { deviceUuid: device.id, credentials };
    },
  }),
  rotateDeviceCredentials: t.field({
    ...requireRole('admin'),
    type: DeviceWithCredentialsRef,
    description:
      'Issues a new secret (shown once) and clears a revocation. gracePeriodSeconds (default 0, at most 604800 = 7 days): ' +
      'with 0 the old secret stops working at once and open sessions are closed; otherwise the old secret keeps working ' +
      'until the grace period ends and sessions opened with it are closed then.',
    errors: { types: [NotFoundError, ValidationError] },
    args: { deviceId: t.arg.string({ required: true }), gracePeriodSeconds: t.arg.int({ required: false }) },
    resolve: async (_root, { deviceId, gracePeriodSeconds }, ctx) => {
      const { device, credentials } = await ctx.devices.rotateCredentials(actorOf(ctx.principal), deviceId, gracePeriodSeconds ?? 0);
      return { deviceUuid: device.id, credentials };
    },
  }),
  revokeDeviceCredentials: t.prismaField({
    ...requireRole('admin'),
    type: 'Device',
    description: 'No secret of the device works any more until rotateDeviceCredentials; open sessions are closed at once.',
    errors: { types: [NotFoundError] },
    args: { deviceId: t.arg.string({ required: true }) },
    resolve: async (query, _root, { deviceId }, ctx) => {
      const device = await ctx.devices.revokeCredentials(actorOf(ctx.principal), deviceId);
      return ctx.prisma.device.findUniqueOrThrow({ ...query, where: { id: device.id } });
    },
  }),
  disableDevice: t.prismaField({
    ...requireRole('admin'),
    type: 'Device',
    description: 'Refuses the device on the broker whatever its secret, and closes its open sessions at once.',
    errors: { types: [NotFoundError] },
    args: { deviceId: t.arg.string({ required: true }) },
    resolve: async (query, _root, { deviceId }, ctx) => {
      const device = await ctx.devices.disable(actorOf(ctx.principal), deviceId);
      return ctx.prisma.device.findUniqueOrThrow({ ...query, where: { id: device.id } });
    },
  }),
  enableDevice: t.prismaField({
    ...requireRole('admin'),
    type: 'Device',
    description: 'Lets a disabled device connect again (revoked credentials still need a rotation).',
    errors: { types: [NotFoundError] },
    args: { deviceId: t.arg.string({ required: true }) },
    resolve: async (query, _root, { deviceId }, ctx) => {
      const device = await ctx.devices.enable(actorOf(ctx.principal), deviceId);
      return ctx.prisma.device.findUniqueOrThrow({ ...query, where: { id: device.id } });
    },
  }),
  deleteDevice: t.field({
    ...requireRole('admin'),
    type: DeleteDevicePayload,
    errors: { types: [NotFoundError] },
    args: { deviceId: t.arg.string({ required: true }) },
    resolve: async (_root, { deviceId }, ctx) => {
      const uuid = await ctx.devices.remove(actorOf(ctx.principal), deviceId);
      return { deviceId, id: encodeGlobalID('Device', uuid) };
    },
  }),
}));

const DeviceConnectionEventRef = builder.objectRef<DeviceConnectionEvent>('DeviceConnectionEvent').implement({
  fields: (t) => ({
    deviceId: t.exposeString('deviceId'),
    connected: t.exposeBoolean('connected'),
    at: t.field({ type: 'DateTime', resolve: (e) => new Date(e.at) }),
    device: t.prismaField({
      type: 'Device',
      nullable: true,
      resolve: (query, e, _args, ctx) => ctx.prisma.device.findUnique({ ...query, where: { id: e.deviceUuid } }),
    }),
  }),
});

builder.subscriptionFields((t) => ({
  deviceConnection: t.field({
    ...requireRole('viewer'),
    type: DeviceConnectionEventRef,
    description: 'Devices connecting and disconnecting. Omit deviceId for every device you may see.',
    args: { deviceId: t.arg.string({ required: false }) },
    // Filtered before queueing: a subscriber only ever buffers events it will receive.
    subscribe: (_root, { deviceId }, ctx) =>
      ctx.bus.subscribe('deviceConnection', (e) => e.tenantId === ctx.principal.tenantId && (deviceId == null || e.deviceId === deviceId)),
    resolve: (event) => event,
  }),
}));
